import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMessageId, messageIdTime, newMessageId } from '../../../src/shared/ids.js';

describe('message ids', () => {
  it('encode their time and sort by it', () => {
    let t = Date.now() + 1000;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 20 }), (dt) => {
        t += dt;
        const a = newMessageId(t);
        const b = newMessageId(t + dt);
        expect(messageIdTime(a)).toBe(t);
        expect(messageIdTime(b)).toBe(t + dt);
        expect(a < b).toBe(true);
        t += dt;
      }),
    );
  });

  it('increase within one millisecond', () => {
    const now = Date.now();
    const ids = Array.from({ length: 1000 }, () => newMessageId(now));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(isMessageId)).toBe(true);
  });

  it('draw their random part from all 32 symbols, a fresh one each millisecond', () => {
    // Later than any time an earlier test used: the monotonic factory only increments within
    // or before the last millisecond it saw.
    const t = 2 ** 47;
    const randomParts = Array.from({ length: 5000 }, (_, i) => newMessageId(t + i * 2).slice(10));
    expect(new Set(randomParts).size).toBe(randomParts.length);
    expect(new Set(randomParts.map((r) => r[0])).size).toBe(32);
  });
});
