/**
 * Coalesces concurrent sends into one Kafka request. kafkajs has no linger setting: one awaited
 * send per message is one broker round trip, so throughput would collapse to 1/RTT per
 * connection. Here sends are queued; a flush takes up to `maxBatch` of them after `lingerMs` (at
 * once when a full batch is waiting) and hands them to ONE `sendBatch(acks: -1)`; a batch is also
 * bounded in bytes, under the broker's message size limit. Only one flush
 * is in flight at a time (the idempotent producer needs maxInFlightRequests 1); the next batch
 * accumulates meanwhile, so batches grow by themselves under load, and goes as soon as the one
 * in flight is acknowledged when its oldest send has already waited `lingerMs`.
 *
 * Failure: a batch that fails, or is not acknowledged within `sendTimeoutMs`, rejects each of its
 * sends with CHAT_ERR_UNAVAILABLE (the client resends with the same client_message_id). A
 * timed-out batch may still be written later; downstream dedupe by (sender, client_message_id)
 * absorbs that. Sends that waited longer than `sendTimeoutMs` in the queue are rejected too, and
 * a full queue rejects at once: memory stays bounded while Kafka is down.
 */
import type { Message, RecordMetadata, TopicMessages } from 'kafkajs';
import { ChatBackendError } from '../shared/errors.js';

/**
 * Default `lingerMs`: 5 ms, Kafka's own `linger.ms` default since 4.0 (KIP-1030). Measured here
 * at 1,000 msg/s against 2 ms: chat servers -23% CPU, the broker -32%, delivery p50 +2 ms; at
 * 4,000 msg/s: -12% and -33%, p99 unchanged (docs/benchmarks.md). Each Kafka request costs far
 * more CPU than a message in it, on both sides.
 */
export const DEFAULT_LINGER_MS = 5;

/** The part of a kafkajs producer this needs. */
export interface BatchSender {
  sendBatch(batch: { topicMessages: TopicMessages[]; acks: number }): Promise<RecordMetadata[]>;
}

/** Options of {@link createBatchingProducer}. */
export interface BatchingProducerOptions {
  sender: BatchSender;
  /** How long a flush waits for more sends, in ms. Default {@link DEFAULT_LINGER_MS} (5). */
  lingerMs?: number;
  /** Most messages per Kafka request. Default 500. */
  maxBatch?: number;
  /**
   * Most payload bytes (keys + values) per Kafka request. Default 900000: under the broker's
   * default message.max.bytes (1 MiB), which a batch of large messages would otherwise exceed.
   */
  maxBatchBytes?: number;
  /** Most queued (not yet flushed) messages; more are rejected with CHAT_ERR_UNAVAILABLE. Default 20000. */
  maxQueued?: number;
  /** How long a send may take from enqueue to ack before it is rejected, in ms. Default 5000. */
  sendTimeoutMs?: number;
  /** Observes each finished batch (size, duration in ms, ok). */
  onBatch?: (size: number, durationMs: number, ok: boolean) => void;
}

/** A queue in front of one producer. */
export interface BatchingProducer {
  /** Resolves once Kafka acknowledged the message (acks -1). */
  send(topic: string, message: Message): Promise<void>;
  /** Resolves when everything queued so far has been settled. */
  flush(): Promise<void>;
  /** Messages waiting for a flush. */
  readonly queued: number;
}

interface Item {
  topic: string;
  message: Message;
  bytes: number;
  /** performance.now() at enqueue (monotonic, sub-millisecond): for the linger and the send timeout. */
  queuedAt: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

function unavailable(message: string, cause?: unknown): ChatBackendError {
  return new ChatBackendError('CHAT_ERR_UNAVAILABLE', message, { cause });
}

function sizeOf(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

/** Creates a batching producer over a connected kafkajs producer (or a fake). */
export function createBatchingProducer(options: BatchingProducerOptions): BatchingProducer {
  const lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
  const maxBatch = options.maxBatch ?? 500;
  const maxBatchBytes = options.maxBatchBytes ?? 900_000;
  const maxQueued = options.maxQueued ?? 20000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 5000;
  let queue: Item[] = [];
  let queuedBytes = 0;
  let inFlight: Promise<void> | undefined;
  let lingerTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  const idleWaiters: (() => void)[] = [];

  function settleIdle(): void {
    if (queue.length > 0 || inFlight) return;
    clearInterval(sweepTimer);
    sweepTimer = undefined;
    for (const w of idleWaiters.splice(0)) w();
  }

  /** Rejects queued sends that waited too long (Kafka slow or down). */
  function sweep(): void {
    const limit = performance.now() - sendTimeoutMs;
    if (queue.length === 0 || queue[0]!.queuedAt > limit) return;
    const keep: Item[] = [];
    for (const item of queue) {
      if (item.queuedAt <= limit) item.reject(unavailable('Kafka did not accept the message in time'));
      else keep.push(item);
    }
    queue = keep;
    queuedBytes = keep.reduce((sum, item) => sum + item.bytes, 0);
    settleIdle();
  }

  function schedule(): void {
    if (inFlight || queue.length === 0) return;
    // Like Kafka's linger.ms, the wait counts from the oldest queued send: sends that piled up
    // while a batch was in flight have waited long enough and go at once.
    const lingered = performance.now() - queue[0]!.queuedAt;
    if (queue.length >= maxBatch || queuedBytes >= maxBatchBytes || lingered >= lingerMs) {
      clearTimeout(lingerTimer);
      lingerTimer = undefined;
      startFlush();
    } else if (!lingerTimer) {
      lingerTimer = setTimeout(() => {
        lingerTimer = undefined;
        startFlush();
      }, lingerMs - lingered);
    }
  }

  function startFlush(): void {
    if (inFlight || queue.length === 0) return;
    let take = 0;
    let bytes = 0;
    while (take < queue.length && take < maxBatch) {
      const next = queue[take]!.bytes;
      if (take > 0 && bytes + next > maxBatchBytes) break;
      bytes += next;
      take++;
    }
    const batch = queue.splice(0, take);
    queuedBytes -= bytes;
    const byTopic = new Map<string, Message[]>();
    for (const item of batch) {
      const list = byTopic.get(item.topic);
      if (list) list.push(item.message);
      else byTopic.set(item.topic, [item.message]);
    }
    const started = performance.now();
    let settled = false;
    const settle = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      options.onBatch?.(batch.length, performance.now() - started, !err);
      for (const item of batch) {
        if (err) item.reject(err);
        else item.resolve();
      }
    };
    const timeout = setTimeout(
      () => settle(unavailable('Kafka did not acknowledge the message in time')),
      Math.max(1, sendTimeoutMs - (started - (batch[0]?.queuedAt ?? started))),
    );
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    inFlight = options.sender
      .sendBatch({ topicMessages, acks: -1 })
      .then(
        () => settle(undefined),
        (err: unknown) => settle(unavailable('Kafka is unavailable', err)),
      )
      .finally(() => {
        clearTimeout(timeout);
        inFlight = undefined;
        schedule();
        settleIdle();
      });
  }

  return {
    get queued() {
      return queue.length;
    },
    send(topic, message) {
      if (queue.length >= maxQueued)
        return Promise.reject(unavailable('too many messages waiting for Kafka'));
      return new Promise<void>((resolve, reject) => {
        const bytes = sizeOf(message.key) + sizeOf(message.value) + 64;
        queue.push({
          topic,
          message,
          bytes,
          queuedAt: performance.now(),
          resolve,
          reject,
        });
        queuedBytes += bytes;
        if (!sweepTimer) {
          sweepTimer = setInterval(sweep, Math.max(10, Math.min(250, sendTimeoutMs / 4)));
          sweepTimer.unref();
        }
        schedule();
      });
    },
    flush() {
      if (queue.length === 0 && !inFlight) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        clearTimeout(lingerTimer);
        lingerTimer = undefined;
        startFlush();
      });
    },
  };
}
