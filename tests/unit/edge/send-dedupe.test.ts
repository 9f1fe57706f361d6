import { describe, expect, it } from 'vitest';
import { createSendDedupe } from '../../../src/edge/send-dedupe.js';

describe('send dedupe', () => {
  it('returns the same result for the same (sender, client_message_id); different senders are separate', async () => {
    const d = createSendDedupe<string>();
    const ack = Promise.resolve('ack-1');
    d.remember('alice', 'c1', ack, 0);
    expect(await d.get('alice', 'c1', 1)).toBe('ack-1');
    expect(d.get('bob', 'c1', 1)).toBeUndefined();
    expect(d.get('alice', 'c2', 1)).toBeUndefined();
  });

  it('forgets failures (so a resend tries again), expired and oldest entries', async () => {
    const d = createSendDedupe<string>({ maxEntries: 2, ttlMs: 100 });
    const failed = Promise.reject(new Error('down'));
    d.remember('a', 'f', failed, 0);
    await failed.catch(() => {});
    await Promise.resolve();
    expect(d.get('a', 'f', 0)).toBeUndefined();
    d.remember('a', '1', Promise.resolve('1'), 0);
    d.remember('a', '2', Promise.resolve('2'), 0);
    d.remember('a', '3', Promise.resolve('3'), 0);
    expect(d.size).toBe(2);
    expect(d.get('a', '1', 0)).toBeUndefined();
    expect(d.get('a', '3', 101)).toBeUndefined();
  });

  it('drops expired entries as new sends arrive, so memory follows the recent send rate', () => {
    const d = createSendDedupe<string>({ maxEntries: 1000, ttlMs: 100 });
    for (let t = 0; t < 500; t++) d.remember('a', `m${t}`, Promise.resolve('ack'), t);
    // Only the last 100 ms of sends are kept, far below the cap.
    expect(d.size).toBeLessThanOrEqual(101);
    expect(d.get('a', 'm499', 499)).toBeDefined();
  });
});
