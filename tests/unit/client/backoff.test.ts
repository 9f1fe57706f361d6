import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/client/backoff.js';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    expect(backoffDelay(0, {}, () => 0.999)).toBe(199);
    expect(backoffDelay(3, {}, () => 0.999)).toBe(1598);
    expect(backoffDelay(20, {}, () => 0.999)).toBe(9990);
    expect(backoffDelay(5, {}, () => 0)).toBe(0);
  });

  it('spreads a crowd evenly over the window', () => {
    const delays = Array.from({ length: 10000 }, () => backoffDelay(2, { initialDelayMs: 100 }));
    const buckets = [0, 0, 0, 0];
    for (const d of delays) buckets[Math.floor(d / 100)]!++;
    for (const b of buckets) expect(b).toBeGreaterThan(2000);
  });
});
