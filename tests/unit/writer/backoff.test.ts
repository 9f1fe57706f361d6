/** Retry delays: doubling, capped, jittered within half, reset after success. */
import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from '../../../src/writer/backoff.js';

describe('Backoff', () => {
  it('doubles up to the cap and starts over after reset', () => {
    const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 1 });
    expect(Array.from({ length: 6 }, () => high.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(high.attempts).toBe(6);
    high.reset();
    expect(high.next()).toBe(100);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect([low.next(), low.next()]).toEqual([50, 100]);
  });

  it('sleep ends early when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const slept = sleep(10_000, controller.signal);
    controller.abort();
    await slept;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
