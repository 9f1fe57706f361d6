/**
 * Input limits shared by every entry point (WebSocket frames, RPCs, tokens). Exceeding one is a
 * typed CHAT_ERR_INVALID_ARGUMENT or CHAT_ERR_TOO_LARGE, never a crash.
 */
import { ChatBackendError } from './errors.js';

/** Longest user id or client_message_id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 128;

/** Default largest message body, in UTF-8 bytes (64 KiB). */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Default largest WebSocket frame, in bytes (64 KiB + room for the frame's own fields). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 + 1024;

const encoder = new TextEncoder();

/** UTF-8 length of a string. */
export function utf8Length(s: string): number {
  // Fast path: ASCII-only strings are their own length.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for non-ASCII
  return /^[\x00-\x7f]*$/.test(s) ? s.length : encoder.encode(s).length;
}

/**
 * Checks an identifier (user id, client_message_id): 1..128 UTF-8 bytes, no control
 * characters (they would break keys, logs and terminals), no surrounding whitespace.
 */
export function checkUserId(id: string, what: string): void {
  if (id.length === 0) throw new ChatBackendError('CHAT_ERR_INVALID_ARGUMENT', `${what} is empty`);
  if (utf8Length(id) > MAX_ID_BYTES) {
    throw new ChatBackendError('CHAT_ERR_INVALID_ARGUMENT', `${what} is longer than ${MAX_ID_BYTES} bytes`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id) || id.trim() !== id) {
    throw new ChatBackendError(
      'CHAT_ERR_INVALID_ARGUMENT',
      `${what} has control characters or surrounding spaces`,
    );
  }
}
