import { describe, expect, it } from 'vitest';
import {
  createWriterWatermark,
  type OffsetsAdmin,
  writerCovers,
} from '../../../src/edge/writer-watermark.js';
import { ChatBackendError } from '../../../src/shared/errors.js';

const m = (o: Record<number, number>) => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));

describe('writerCovers', () => {
  it('needs every partition committed at or past the target; empty partitions need nothing', () => {
    expect(writerCovers(m({ 0: 5, 1: 3 }), m({ 0: 5, 1: 3 }))).toBe(true);
    expect(writerCovers(m({ 0: 6, 1: 9 }), m({ 0: 5, 1: 3 }))).toBe(true);
    expect(writerCovers(m({ 0: 4, 1: 9 }), m({ 0: 5, 1: 3 }))).toBe(false);
    expect(writerCovers(m({ 0: 5 }), m({ 0: 5, 1: 1 }))).toBe(false);
    expect(writerCovers(m({ 0: -1 }), m({ 0: 0, 1: 0 }))).toBe(true);
    expect(writerCovers(m({ 0: -1 }), m({ 0: 1 }))).toBe(false);
  });
});

describe('shared poller', () => {
  function fakeAdmin(committed: Map<number, number>) {
    let calls = 0;
    const admin: OffsetsAdmin = {
      fetchOffsets: (async () => {
        calls++;
        return [
          {
            topic: 't',
            partitions: [...committed].map(([partition, offset]) => ({
              partition,
              offset: String(offset),
              metadata: null,
            })),
          },
        ];
      }) as OffsetsAdmin['fetchOffsets'],
    };
    return { admin, calls: () => calls };
  }

  it('polls once per interval for all waiters, only while someone waits', async () => {
    const committed = m({ 0: 0, 1: 0 });
    const { admin, calls } = fakeAdmin(committed);
    const w = createWriterWatermark({ admin, groupId: 'g', topic: 't', pollMs: 20 });
    const waits = Array.from({ length: 10 }, (_, i) => w.waitFor(m({ 0: i + 1 }), 5000));
    await new Promise((r) => setTimeout(r, 70));
    const during = calls();
    expect(during).toBeLessThanOrEqual(5);
    committed.set(0, 10);
    await Promise.all(waits);
    expect(w.waiting).toBe(0);
    const after = calls();
    await new Promise((r) => setTimeout(r, 80));
    expect(calls()).toBe(after);
    w.close();
  });

  it('times out with UNAVAILABLE, and rejects on abort and close', async () => {
    const { admin } = fakeAdmin(m({ 0: 0 }));
    const w = createWriterWatermark({ admin, groupId: 'g', topic: 't', pollMs: 10 });
    await expect(w.waitFor(m({ 0: 1 }), 50)).rejects.toSatisfy((e) =>
      ChatBackendError.is(e, 'CHAT_ERR_UNAVAILABLE'),
    );
    const ac = new AbortController();
    const aborted = w.waitFor(m({ 0: 1 }), 5000, ac.signal);
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(ChatBackendError);
    const closed = w.waitFor(m({ 0: 1 }), 5000);
    w.close();
    await expect(closed).rejects.toBeInstanceOf(ChatBackendError);
  });
});
