/**
 * The workload of the fault tests: pairs of SDK users (one sender, one recipient each) talking
 * through a cluster while a fault is injected, recorded for the checker.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ChatClient } from '../../src/client/index.js';
import { PROJECT_ROOT } from '../../src/infra/paths.js';
import { type CheckOptions, type CheckReport, checkHistory, HistoryRecorder } from '../helpers/checker.js';
import { type Cluster, type ClusterProcess, eventually } from '../helpers/cluster.js';

/**
 * True under `npm run test:faults` (CHAT_FAULTS=1): every fault test runs in `npm test` too;
 * this flag only makes the load tests longer (60 s soak, 10,000 connect cycles).
 */
export const FAULTS = process.env.CHAT_FAULTS === '1';

/**
 * Environment that lets a test force a full garbage collection in a service: SIGUSR2 runs gc()
 * (test instrumentation, tests/reliability/fixtures/gc-on-signal.mjs), so heap samples hold only
 * live objects and a leak shows as a trend instead of hiding in the collector's schedule.
 */
export const GC_ON_SIGNAL_ENV = {
  NODE_OPTIONS: `--expose-gc --import ${join(PROJECT_ROOT, 'tests/reliability/fixtures/gc-on-signal.mjs')}`,
};

/** Heap in use by a service after a full collection (needs {@link GC_ON_SIGNAL_ENV}), in bytes. */
export async function liveHeap(proc: ClusterProcess): Promise<number> {
  proc.kill('SIGUSR2');
  await new Promise((r) => setTimeout(r, 300));
  return (await proc.metric('nodejs_heap_size_used_bytes')) ?? Number.NaN;
}

/** Sender/recipient pairs with their clients. */
export interface Pairs {
  recorder: HistoryRecorder;
  senders: ChatClient[];
  recipients: ChatClient[];
  all: ChatClient[];
}

/** Connects `count` pairs of users (recipients first, so they are live before anything is sent). */
export async function connectPairs(cluster: Cluster, count: number, clientOptions = {}): Promise<Pairs> {
  const recorder = new HistoryRecorder();
  const recipients = Array.from({ length: count }, () => cluster.client(cluster.user('to'), clientOptions));
  const senders = Array.from({ length: count }, () => cluster.client(cluster.user('from'), clientOptions));
  for (const c of [...recipients, ...senders]) recorder.watch(c);
  await Promise.all(recipients.map((c) => c.connect()));
  await Promise.all(senders.map((c) => c.connect()));
  return { recorder, senders, recipients, all: [...recipients, ...senders] };
}

/** A running send loop: each sender sends one message at a time to its recipient. */
export interface SendLoop {
  /** Messages sent (called) so far. */
  readonly calls: number;
  /** Stops after the in-flight sends settle. */
  stop(): Promise<void>;
}

/** Starts one sequential send loop per pair, pausing `pauseMs` between sends (default 20). */
export function sendLoop(
  pairs: Pairs,
  options: { pauseMs?: number; body?: (i: number) => string } = {},
): SendLoop {
  let running = true;
  let calls = 0;
  const pauseMs = options.pauseMs ?? 20;
  const body = options.body ?? ((i: number) => `message ${i}`);
  const loops = pairs.senders.map(async (sender, p) => {
    const recipient = pairs.recipients[p]!.userId;
    for (let i = 0; running; i++) {
      calls++;
      await pairs.recorder.send(sender, recipient, body(i));
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    get calls() {
      return calls;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Waits until every acked message reached every recipient device and every acked message is
 * stored, then checks the whole history and asserts there is no violation.
 */
export async function settleAndCheck(
  cluster: Cluster,
  pairs: Pairs,
  options: CheckOptions & { timeoutMs?: number } = {},
): Promise<CheckReport> {
  const { recorder } = pairs;
  const users = recorder.users();
  const acked = () => recorder.sends.filter((s) => s.ack).length;
  const timeoutMs = options.timeoutMs ?? 30_000;
  await eventually(
    async () => recorder.undelivered() === 0 && (await cluster.stored(users)).length >= acked(),
    timeoutMs,
    () => ({ undelivered: recorder.undelivered(), acked: acked() }),
    250,
  ).catch(() => {
    // The checker below says exactly what is missing.
  });
  const report = checkHistory(recorder.history(await cluster.stored(users)), options);
  expect(report.ok, report.summary()).toBe(true);
  return report;
}
