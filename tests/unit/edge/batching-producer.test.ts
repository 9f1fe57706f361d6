import type { RecordMetadata, TopicMessages } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { type BatchSender, createBatchingProducer } from '../../../src/edge/batching-producer.js';
import { ChatBackendError } from '../../../src/shared/errors.js';

/** A fake producer: records each request; the test settles them. */
function fakeSender() {
  const calls: { topicMessages: TopicMessages[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  const sender: BatchSender = {
    sendBatch: ({ topicMessages }) =>
      new Promise<RecordMetadata[]>((resolve, reject) => {
        calls.push({ topicMessages, resolve: () => resolve([]), reject });
      }),
  };
  return { sender, calls };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const msg = (v: string) => ({ value: Buffer.from(v) });

describe('batching producer', () => {
  it('coalesces concurrent sends into one request; the next batch waits for the one in flight', async () => {
    const { sender, calls } = fakeSender();
    const p = createBatchingProducer({ sender, lingerMs: 1 });
    const first = [p.send('t', msg('a')), p.send('t', msg('b')), p.send('u', msg('c'))];
    await tick();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.topicMessages.map((t) => [t.topic, t.messages.length])).toEqual([
      ['t', 2],
      ['u', 1],
    ]);
    const second = [p.send('t', msg('d')), p.send('t', msg('e'))];
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve();
    await Promise.all(first);
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.topicMessages[0]!.messages).toHaveLength(2);
    calls[1]!.resolve();
    await Promise.all(second);
  });

  it('sends that piled up during a flight go when it is acknowledged, without another linger', async () => {
    const { sender, calls } = fakeSender();
    const p = createBatchingProducer({ sender, lingerMs: 50 });
    const first = p.send('t', msg('a'));
    await tick(70);
    expect(calls).toHaveLength(1);
    const second = p.send('t', msg('b'));
    await tick(70);
    calls[0]!.resolve();
    await first;
    await tick(1);
    // 'b' has waited 70 ms > lingerMs: its batch starts at once, not 50 ms later.
    expect(calls).toHaveLength(2);
    calls[1]!.resolve();
    await second;
  });

  it('splits by maxBatch and by maxBatchBytes', async () => {
    const { sender, calls } = fakeSender();
    const p = createBatchingProducer({ sender, lingerMs: 1, maxBatch: 3, maxBatchBytes: 2000 });
    const sends = Array.from({ length: 5 }, (_, i) => p.send('t', msg(String(i))));
    await tick();
    expect(calls[0]!.topicMessages[0]!.messages).toHaveLength(3);
    calls[0]!.resolve();
    await tick();
    calls[1]!.resolve();
    await Promise.all(sends);
    const big = Array.from({ length: 3 }, () => p.send('t', msg('x'.repeat(900))));
    await tick();
    expect(calls[2]!.topicMessages[0]!.messages).toHaveLength(2);
    calls[2]!.resolve();
    await tick();
    expect(calls[3]!.topicMessages[0]!.messages).toHaveLength(1);
    calls[3]!.resolve();
    await Promise.all(big);
  });

  it('a failed batch rejects each of its sends with UNAVAILABLE; later sends still go', async () => {
    const { sender, calls } = fakeSender();
    const p = createBatchingProducer({ sender, lingerMs: 1 });
    const a = p.send('t', msg('a'));
    await tick();
    calls[0]!.reject(new Error('broker down'));
    await expect(a).rejects.toSatisfy((e) => ChatBackendError.is(e, 'CHAT_ERR_UNAVAILABLE'));
    const b = p.send('t', msg('b'));
    await tick();
    calls[1]!.resolve();
    await b;
  });

  it('times out a stuck batch and sends waiting too long; a full queue rejects at once', async () => {
    const { sender, calls } = fakeSender();
    const p = createBatchingProducer({ sender, lingerMs: 1, sendTimeoutMs: 50, maxQueued: 2 });
    const stuck = p.send('t', msg('a'));
    await tick();
    const waiting = [p.send('t', msg('b')), p.send('t', msg('c'))];
    await expect(p.send('t', msg('d'))).rejects.toSatisfy((e) =>
      ChatBackendError.is(e, 'CHAT_ERR_UNAVAILABLE'),
    );
    await expect(stuck).rejects.toSatisfy((e) => ChatBackendError.is(e, 'CHAT_ERR_UNAVAILABLE'));
    for (const w of waiting)
      await expect(w).rejects.toSatisfy((e) => ChatBackendError.is(e, 'CHAT_ERR_UNAVAILABLE'));
    // Only one request was ever in flight.
    expect(calls).toHaveLength(1);
    calls[0]!.resolve();
    await p.flush();
  });

  it('flush resolves once everything queued is settled', async () => {
    const { sender, calls } = fakeSender();
    const p = createBatchingProducer({ sender, lingerMs: 1000 });
    const a = p.send('t', msg('a'));
    let flushed = false;
    const f = p.flush().then(() => {
      flushed = true;
    });
    await tick();
    expect(calls).toHaveLength(1);
    expect(flushed).toBe(false);
    calls[0]!.resolve();
    await Promise.all([a, f]);
    expect(p.queued).toBe(0);
  });
});
