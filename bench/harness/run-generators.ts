/**
 * Runs a load across generator processes (child processes, so the generator never shares a
 * process or event loop with a server under test), aligns a CPU/RSS sampling window with the
 * measured window, and merges the results.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/infra/paths.js';
import { type LatencySummary, mergeHistograms, summarize } from './histogram.js';
import type { LoadOptions, LoadResult } from './load.js';
import { createProcSampler, machineBusySeconds, type ProcUsage, type WatchedProcess } from './proc-stats.js';
import { raisePriority } from './services.js';
import type { TransportSpec } from './transport.js';

/** Options of {@link runGenerators}. */
export interface RunGeneratorsOptions {
  transport: TransportSpec;
  /** The whole run; users and rate are split evenly over the generator processes. */
  load: Omit<LoadOptions, 'prefix'> & { prefix: string };
  /** Generator processes. Default 1 (on 2 cores a second one mostly steals CPU from the servers). */
  generators?: number;
  /** Processes whose CPU and RSS are sampled in the measured window (generators are added). */
  watch?: WatchedProcess[];
  /** Called once all users are connected, before sending starts (e.g. to read a server's RSS). */
  onConnected?: () => void | Promise<void>;
  /** Extra node flags of the generator processes. Default: 4 GB old space for large connection counts. */
  execArgv?: string[];
}

/** The merged outcome of one run (one offered rate). */
export interface RunResult {
  offeredRate: number;
  users: number;
  connected: number;
  connectFailures: number;
  connectError?: string;
  connectMs: number;
  measuredMs: number;
  sent: number;
  acked: number;
  delivered: number;
  /** Delivered messages per second in the measured window. */
  deliveredRate: number;
  errors: Record<string, number>;
  unacked: number;
  undelivered: number;
  unexpectedCloses: number;
  /** send -> SendAck, ms from the intended send time. */
  ack: LatencySummary;
  /** send -> message on the recipient's socket, ms from the intended send time. */
  deliver: LatencySummary;
  /** Heartbeat -> HeartbeatAck round trip, ms. */
  heartbeat: LatencySummary;
  /** How late the generator sent compared to its timeline, ms (should stay small). */
  sendLag: LatencySummary;
  /** CPU and RSS of every watched process in the measured window (generators included). */
  processes: ProcUsage[];
  /** Busy cores of the whole machine in the window, and the part of it not spent by the watched processes (other work on a shared machine). */
  machine: { busyCores: number; otherCores: number; loadAverage1m: number };
}

const GENERATOR = join(PROJECT_ROOT, 'bench', 'harness', 'generator.ts');

/** Runs the generators and returns the merged result. */
export async function runGenerators(options: RunGeneratorsOptions): Promise<RunResult> {
  const count = Math.max(1, options.generators ?? 1);
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(
      fork(GENERATOR, [], {
        cwd: PROJECT_ROOT,
        execArgv: ['--import', 'tsx', ...(options.execArgv ?? ['--max-old-space-size=4096'])],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }
  for (const c of children) raisePriority(c.pid);
  const watch: WatchedProcess[] = [
    ...(options.watch ?? []),
    ...children.map((c, i) => ({ name: `generator-${i + 1}`, pids: () => (c.pid ? [c.pid] : []) })),
  ];
  const sampler = createProcSampler(watch);
  const waitAll = (type: string) =>
    Promise.all(
      children.map(
        (c) =>
          new Promise<Record<string, unknown>>((resolve, reject) => {
            const onMessage = (m: Record<string, unknown>) => {
              if (m.type === type) {
                c.off('message', onMessage);
                resolve(m);
              } else if (m.type === 'failed') reject(new Error(`generator failed: ${m.error}`));
            };
            c.on('message', onMessage);
            c.once('exit', (code) => reject(new Error(`generator exited (${code}) before '${type}'`)));
          }),
      ),
    );
  try {
    const connected = waitAll('connected');
    const users = Math.ceil(options.load.users / count / 2) * 2;
    for (const [i, c] of children.entries()) {
      c.send({
        type: 'run',
        transport: options.transport,
        load: {
          ...options.load,
          prefix: `${options.load.prefix}-g${i}`,
          users,
          rate: options.load.rate / count,
        },
      });
    }
    await connected;
    for (const c of children) raisePriority(c.pid);
    await options.onConnected?.();
    const measuring = waitAll('measuring');
    const measured = waitAll('measured');
    const results = waitAll('result');
    for (const c of children) c.send({ type: 'start' });
    await measuring;
    sampler.start();
    const busyAtStart = machineBusySeconds();
    const startedAt = performance.now();
    await measured;
    const processes = sampler.stop();
    const seconds = (performance.now() - startedAt) / 1000;
    const busyCores = (machineBusySeconds() - busyAtStart) / seconds;
    const watchedCores = processes.reduce((sum, p) => sum + p.cores, 0);
    const machine = {
      busyCores: Math.round(busyCores * 100) / 100,
      otherCores: Math.round(Math.max(0, busyCores - watchedCores) * 100) / 100,
      loadAverage1m: loadavg()[0] ?? 0,
    };
    const parts = (await results).map((m) => m.result as LoadResult);
    return { ...merge(options.load.rate, parts, processes), machine };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

function merge(offeredRate: number, parts: LoadResult[], processes: ProcUsage[]): Omit<RunResult, 'machine'> {
  const sum = (f: (p: LoadResult) => number) => parts.reduce((n, p) => n + f(p), 0);
  const errors: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.errors)) errors[k] = (errors[k] ?? 0) + v;
  const measuredMs = Math.max(...parts.map((p) => p.measuredMs));
  const delivered = sum((p) => p.delivered);
  const connectError = parts.find((p) => p.connectError)?.connectError;
  return {
    offeredRate,
    users: sum((p) => p.users),
    connected: sum((p) => p.connected),
    connectFailures: sum((p) => p.connectFailures),
    ...(connectError ? { connectError } : {}),
    connectMs: Math.max(...parts.map((p) => p.connectMs)),
    measuredMs,
    sent: sum((p) => p.sent),
    acked: sum((p) => p.acked),
    delivered,
    deliveredRate: measuredMs > 0 ? Math.round((delivered / measuredMs) * 1000) : 0,
    errors,
    unacked: sum((p) => p.unacked),
    undelivered: sum((p) => p.undelivered),
    unexpectedCloses: sum((p) => p.unexpectedCloses),
    ack: summarize(mergeHistograms(parts.map((p) => p.ackHistogram))),
    deliver: summarize(mergeHistograms(parts.map((p) => p.deliverHistogram))),
    heartbeat: summarize(mergeHistograms(parts.map((p) => p.heartbeatHistogram))),
    sendLag: summarize(mergeHistograms(parts.map((p) => p.sendLagHistogram))),
    processes,
  };
}
