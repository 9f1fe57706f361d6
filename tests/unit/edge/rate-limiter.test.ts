import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../../src/edge/rate-limiter.js';

describe('token bucket', () => {
  it('allows a burst, then refills at the rate, never above the burst', () => {
    const bucket = createRateLimiter({ ratePerSecond: 10, burst: 5, nowMs: 0 });
    const taken = Array.from({ length: 7 }, () => bucket.tryTake(0));
    expect(taken).toEqual([true, true, true, true, true, false, false]);
    expect(bucket.tryTake(99)).toBe(false);
    expect(bucket.tryTake(100)).toBe(true);
    expect(bucket.tryTake(100)).toBe(false);
    // A long pause refills to the burst only.
    expect(Array.from({ length: 7 }, () => bucket.tryTake(60_000)).filter(Boolean)).toHaveLength(5);
  });

  it('ignores a clock that goes backwards', () => {
    const bucket = createRateLimiter({ ratePerSecond: 1, burst: 1, nowMs: 1000 });
    expect(bucket.tryTake(1000)).toBe(true);
    expect(bucket.tryTake(0)).toBe(false);
    expect(bucket.tryTake(1999)).toBe(false);
    expect(bucket.tryTake(2000)).toBe(true);
  });
});
