/** Errors the SDK hands to applications. */
import { ErrorCode } from '../../gen/chat/v1/frames_pb.js';

/** What went wrong, as the protocol's ErrorCode name or an SDK-side reason. */
export type ChatClientErrorCode =
  | keyof typeof ErrorCode
  | 'TIMEOUT'
  | 'CLOSED'
  | 'DISCOVERY_FAILED'
  | 'CONNECT_FAILED';

/**
 * A typed SDK error. For a refused send, `code` is the server's ErrorCode name (e.g. TOO_LARGE,
 * RATE_LIMITED, INVALID_ARGUMENT) and `clientMessageId` names the message.
 */
export class ChatClientError extends Error {
  override readonly name = 'ChatClientError';
  readonly code: ChatClientErrorCode;
  readonly clientMessageId: string | undefined;

  constructor(
    code: ChatClientErrorCode,
    message: string,
    options?: { clientMessageId?: string; cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
    this.code = code;
    this.clientMessageId = options?.clientMessageId;
  }
}

/** The ErrorCode name of a numeric code (UNSPECIFIED for unknown values). */
export function errorCodeName(code: ErrorCode): keyof typeof ErrorCode {
  return (ErrorCode[code] as keyof typeof ErrorCode | undefined) ?? 'UNSPECIFIED';
}

/** Errors after which resending the same message can succeed. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.UNAVAILABLE,
  ErrorCode.RATE_LIMITED,
  ErrorCode.DRAINING,
  ErrorCode.INTERNAL,
]);
