/**
 * Message ids: ULIDs (26 Crockford base32 characters; 48-bit millisecond time then 80 random
 * bits). Sorting ids as strings sorts them by time; within one millisecond one process hands
 * out increasing ids (monotonic factory), so a sender's messages keep their order.
 */
import { decodeTime, monotonicFactory } from 'ulid';

const next = monotonicFactory();

/** A new message id for the given time (ms since epoch; default now). */
export function newMessageId(nowMs: number = Date.now()): string {
  return next(nowMs);
}

/** The millisecond timestamp inside a message id. */
export function messageIdTime(id: string): number {
  return decodeTime(id);
}

/** True when the string has the form of a message id. */
export function isMessageId(id: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id);
}
