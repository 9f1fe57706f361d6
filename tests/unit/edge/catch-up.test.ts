import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { compareKeys, LiveGate } from '../../../src/edge/catch-up.js';
import type { LiveRecord } from '../../../src/edge/delivery.js';
import { newChatMessage } from '../../../src/shared/codec.js';

let offset = 0;
function record(id: string, ms: number): LiveRecord {
  const message = newChatMessage({
    messageId: id,
    clientMessageId: id,
    senderId: 'a',
    recipientId: 'b',
    body: '',
    sentAtMs: ms,
  });
  message.sentAt = timestampFromMs(ms);
  const o = offset++;
  return { message, partition: 0, offset: o, frame: () => new Uint8Array() };
}

describe('catch-up keys', () => {
  it('order by time, then by id in code-unit order (as collation "C")', () => {
    expect(compareKeys({ ms: 1, id: 'Z' }, { ms: 2, id: 'A' })).toBe(-1);
    expect(compareKeys({ ms: 2, id: 'A' }, { ms: 2, id: 'B' })).toBe(-1);
    expect(compareKeys({ ms: 2, id: 'a' }, { ms: 2, id: 'B' })).toBe(1);
    expect(compareKeys({ ms: 2, id: 'A' }, { ms: 2, id: 'A' })).toBe(0);
  });
});

describe('LiveGate', () => {
  it('buffers until live, then drops the live copies of rows already sent from the database', () => {
    const gate = new LiveGate(10);
    expect(gate.accept(record('01', 1))).toBeUndefined();
    expect(gate.accept(record('02', 2))).toBeUndefined();
    gate.pendingLiveDupes.set('02', { partition: 0, offset: 1 });
    gate.pendingLiveDupes.set('03', { partition: 0, offset: 2 });
    expect(gate.goLive().map((r) => r.message.messageId)).toEqual(['01']);
    expect(gate.live).toBe(true);
    expect(gate.accept(record('03', 3))).toBeUndefined();
    expect(gate.accept(record('04', 4))?.message.messageId).toBe('04');
    expect(gate.pendingLiveDupes.size).toBe(0);
  });

  it('on overflow drops the buffer, remembers the smallest dropped key, and doubles its room', () => {
    const gate = new LiveGate(2);
    gate.accept(record('05', 5));
    gate.accept(record('03', 3));
    expect(gate.overflowed).toBe(false);
    gate.accept(record('09', 9));
    expect(gate.overflowed).toBe(true);
    gate.accept(record('01', 1));
    expect(gate.takeOverflow()).toEqual({ ms: 1, id: '01' });
    expect(gate.overflowed).toBe(false);
    for (const [i, ms] of [10, 11, 12, 13].entries()) gate.accept(record(`1${i}`, ms));
    expect(gate.overflowed).toBe(false);
    expect(gate.goLive()).toHaveLength(4);
  });
});
