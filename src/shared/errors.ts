/**
 * The one error base class of the project. Every failure that can reach a user carries a
 * string-literal code from {@link ERROR_CODES}; `src/shared/error-codes.ts`-style mapping to
 * the wire lives in {@link toWire} so each code maps to exactly one protocol value.
 */
import { Code } from '@connectrpc/connect';
import { ErrorCode } from '../../gen/chat/v1/frames_pb.js';

/** Every internal error code. Add a code here and in {@link WIRE} together. */
export const ERROR_CODES = [
  'CHAT_ERR_CONFIG',
  'CHAT_ERR_INVALID_FRAME',
  'CHAT_ERR_INVALID_ARGUMENT',
  'CHAT_ERR_UNAUTHENTICATED',
  'CHAT_ERR_RATE_LIMITED',
  'CHAT_ERR_TOO_LARGE',
  'CHAT_ERR_UNAVAILABLE',
  'CHAT_ERR_DRAINING',
  'CHAT_ERR_INTERNAL',
] as const;

export type ChatErrorCode = (typeof ERROR_CODES)[number];

interface WireCodes {
  /** The WebSocket protocol's ChatError.code. */
  frame: ErrorCode;
  /** The Connect/gRPC status code. */
  rpc: Code;
}

/** The one table from internal codes to protocol codes. */
export const WIRE: Readonly<Record<ChatErrorCode, WireCodes>> = {
  CHAT_ERR_CONFIG: { frame: ErrorCode.INTERNAL, rpc: Code.Internal },
  CHAT_ERR_INVALID_FRAME: { frame: ErrorCode.INVALID_FRAME, rpc: Code.InvalidArgument },
  CHAT_ERR_INVALID_ARGUMENT: { frame: ErrorCode.INVALID_ARGUMENT, rpc: Code.InvalidArgument },
  CHAT_ERR_UNAUTHENTICATED: { frame: ErrorCode.UNAUTHENTICATED, rpc: Code.Unauthenticated },
  CHAT_ERR_RATE_LIMITED: { frame: ErrorCode.RATE_LIMITED, rpc: Code.ResourceExhausted },
  CHAT_ERR_TOO_LARGE: { frame: ErrorCode.TOO_LARGE, rpc: Code.ResourceExhausted },
  CHAT_ERR_UNAVAILABLE: { frame: ErrorCode.UNAVAILABLE, rpc: Code.Unavailable },
  CHAT_ERR_DRAINING: { frame: ErrorCode.DRAINING, rpc: Code.Unavailable },
  CHAT_ERR_INTERNAL: { frame: ErrorCode.INTERNAL, rpc: Code.Internal },
};

/**
 * A failure with a stable code. `message` is safe to show to a client; put internal detail
 * (driver errors, stack traces) in `cause`, which is logged but never sent.
 */
export class ChatBackendError extends Error {
  override readonly name = 'ChatBackendError';
  readonly code: ChatErrorCode;

  constructor(code: ChatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** True for any ChatBackendError, optionally of one code. */
  static is(err: unknown, code?: ChatErrorCode): err is ChatBackendError {
    return err instanceof ChatBackendError && (code === undefined || err.code === code);
  }
}

/** The wire codes for a code. */
export function toWire(code: ChatErrorCode): WireCodes {
  return WIRE[code];
}
