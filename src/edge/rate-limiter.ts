/**
 * A token bucket: `burst` tokens, refilled at `ratePerSecond`. One per connection limits how
 * fast a client may send, so one flooding client cannot starve the others on the server.
 */

/** A per-connection token bucket. */
export interface RateLimiter {
  /** Takes one token; false when the bucket is empty (the action is refused). */
  tryTake(nowMs?: number): boolean;
}

/**
 * One bucket is a plain object with four fields: a closure-based bucket costs a function and
 * its context on top, per connection.
 */
class TokenBucket implements RateLimiter {
  #tokens: number;
  #last: number;
  readonly #ratePerSecond: number;
  readonly #burst: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = nowMs;
  }

  tryTake(nowMs = Date.now()): boolean {
    if (nowMs > this.#last) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + ((nowMs - this.#last) * this.#ratePerSecond) / 1000,
      );
      this.#last = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Creates a bucket that starts full. */
export function createRateLimiter(options: {
  ratePerSecond: number;
  burst: number;
  nowMs?: number;
}): RateLimiter {
  return new TokenBucket(options.ratePerSecond, options.burst, options.nowMs ?? Date.now());
}
