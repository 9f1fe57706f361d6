/**
 * A token bucket: `burst` tokens, refilled at `ratePerSecond`. One per connection limits how
 * fast a client may send, so one flooding client cannot starve the others on the server.
 */

/** A per-connection token bucket. */
export interface RateLimiter {
  /** Takes one token; false when the bucket is empty (the action is refused). */
  tryTake(nowMs?: number): boolean;
}

/** Creates a bucket that starts full. */
export function createRateLimiter(options: {
  ratePerSecond: number;
  burst: number;
  nowMs?: number;
}): RateLimiter {
  const { ratePerSecond, burst } = options;
  let tokens = burst;
  let last = options.nowMs ?? Date.now();
  return {
    tryTake(nowMs = Date.now()) {
      if (nowMs > last) {
        tokens = Math.min(burst, tokens + ((nowMs - last) * ratePerSecond) / 1000);
        last = nowMs;
      }
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
