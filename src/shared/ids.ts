/**
 * Message ids: ULIDs (26 Crockford base32 characters; 48-bit millisecond time then 80 random
 * bits). Sorting ids as strings sorts them by time; within one millisecond one process hands
 * out increasing ids (monotonic factory), so a sender's messages keep their order.
 */
import { randomFillSync } from 'node:crypto';
import { decodeTime, monotonicFactory, type PRNG } from 'ulid';

/**
 * Random bytes from a pool refilled 4 KiB at a time. ulid's default source makes one
 * getRandomValues call per character (16 per new millisecond), which showed up at ~2% of a busy
 * chat server's CPU profile; the bytes are the same CSPRNG's.
 */
function pooledRandom(poolBytes = 4096): PRNG {
  const pool = new Uint8Array(poolBytes);
  let at = poolBytes;
  return () => {
    if (at === poolBytes) {
      randomFillSync(pool);
      at = 0;
    }
    // ulid maps [0, 1) onto 32 symbols; a byte / 256 is uniform over them.
    return (pool[at++] as number) / 256;
  };
}

const next = monotonicFactory(pooledRandom());

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
