/**
 * "Has the writer stored everything before this position?" The writer commits its consumer
 * group's offsets only after the rows are in PostgreSQL, so committed[p] >= P[p] on every
 * partition means every record below P is readable from the database. One shared poller reads
 * the writer group's offsets (one admin request per interval, for every waiting session
 * together) and only while someone waits.
 */
import type { Admin } from 'kafkajs';
import { ChatBackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** Partition -> offset. */
export type Offsets = ReadonlyMap<number, number>;

/**
 * True when the committed offsets reach the target on every partition. A target of 0 needs
 * nothing (no record precedes it); a partition without a commit counts as -1.
 */
export function writerCovers(committed: Offsets, target: Offsets): boolean {
  for (const [partition, offset] of target) {
    if (offset <= 0) continue;
    if ((committed.get(partition) ?? -1) < offset) return false;
  }
  return true;
}

/** The part of a kafkajs Admin the poller needs. */
export type OffsetsAdmin = Pick<Admin, 'fetchOffsets'>;

/** Options of {@link createWriterWatermark}. */
export interface WriterWatermarkOptions {
  admin: OffsetsAdmin;
  /** The writer's consumer group. */
  groupId: string;
  /** The chat messages topic. */
  topic: string;
  /** Poll interval in ms while sessions wait. Default 50. */
  pollMs?: number;
  logger?: Logger;
}

/** The shared poller. */
export interface WriterWatermark {
  /**
   * Resolves when the writer has committed past `target` on every partition; rejects with
   * CHAT_ERR_UNAVAILABLE after timeoutMs or when `signal` aborts.
   */
  waitFor(target: Offsets, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Sessions currently waiting. */
  readonly waiting: number;
  /** Rejects every waiter and stops polling. */
  close(): void;
}

interface Waiter {
  target: Offsets;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Creates the poller (idle until the first waitFor). */
export function createWriterWatermark(options: WriterWatermarkOptions): WriterWatermark {
  const pollMs = options.pollMs ?? 50;
  const waiters = new Set<Waiter>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let closed = false;
  let lastCommitted: Offsets = new Map();

  async function poll(): Promise<void> {
    timer = undefined;
    if (closed || waiters.size === 0) return;
    polling = true;
    try {
      const result = await options.admin.fetchOffsets({ groupId: options.groupId, topics: [options.topic] });
      const committed = new Map<number, number>();
      for (const t of result) {
        for (const p of t.partitions) committed.set(p.partition, Number(p.offset));
      }
      lastCommitted = committed;
      for (const w of waiters) {
        if (writerCovers(committed, w.target)) {
          waiters.delete(w);
          w.resolve();
        }
      }
    } catch (err) {
      options.logger?.warn({ err }, 'reading the writer group offsets failed');
    } finally {
      polling = false;
      if (!closed && waiters.size > 0) timer = setTimeout(() => void poll(), pollMs);
    }
  }

  return {
    get waiting() {
      return waiters.size;
    },
    waitFor(target, timeoutMs, signal) {
      if (closed) return Promise.reject(new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'shutting down'));
      if (writerCovers(lastCommitted, target)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(deadline);
          signal?.removeEventListener('abort', onAbort);
        };
        const waiter: Waiter = {
          target,
          resolve: () => {
            done();
            resolve();
          },
          reject: (err) => {
            done();
            reject(err);
          },
        };
        const deadline = setTimeout(() => {
          waiters.delete(waiter);
          waiter.reject(new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'history is temporarily unavailable'));
        }, timeoutMs);
        const onAbort = () => {
          waiters.delete(waiter);
          waiter.reject(new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'cancelled'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.add(waiter);
        if (!timer && !polling) void poll();
      });
    },
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of waiters) w.reject(new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'shutting down'));
      waiters.clear();
    },
  };
}
