/**
 * What every scenario shares: the knobs (environment), the saturation sweep, the rule for a
 * sustainable step, and the JSON result files in bench/results/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/infra/paths.js';
import { machineBusySeconds } from '../harness/proc-stats.js';
import type { RunResult } from '../harness/run-generators.js';

/** Knobs of a bench run; every one has an environment variable. */
export interface BenchConfig {
  /** Measured window per step, ms (BENCH_DURATION_MS, default 10000). */
  durationMs: number;
  /** Warm-up per step, ms (BENCH_WARMUP_MS, default 3000). */
  warmupMs: number;
  /** Wait for stragglers after a step, ms (BENCH_DRAIN_MS, default 3000). */
  drainMs: number;
  /** Simulated users (BENCH_USERS, default 1000). */
  users: number;
  /** Body size, bytes (BENCH_BODY_BYTES, default 100). */
  bodyBytes: number;
  /** Offered rates of the saturation sweep, msg/s, rising (BENCH_RATES, comma-separated). */
  rates: number[];
  /** Sustainable means delivery p99 under this, ms (BENCH_P99_MS, default 100). */
  p99LimitMs: number;
  /** Total offered rate of the fan-out scenario, msg/s (BENCH_FANOUT_RATE, default 2000). */
  fanoutRate: number;
  /** Chat server counts of the fan-out scenario (BENCH_FANOUT_EDGES, default 1,2,4). */
  fanoutEdges: number[];
  /** Idle connection counts of the capacity scenario (BENCH_CONNECTIONS, default 10000,25000,50000). */
  connections: number[];
  /** How long idle connections are held and their heartbeats measured, ms (BENCH_IDLE_MS, default 30000). */
  idleMs: number;
  /** Heartbeat interval of the capacity scenario's chat server, ms (BENCH_HEARTBEAT_MS, default 10000). */
  heartbeatMs: number;
  /** After the sweep, also run at half the best rate (BENCH_HALF, default 1; 0 skips it). */
  half: boolean;
  /** Before each step, wait until the machine's busy cores (idle servers included) fall below this (BENCH_QUIET_CORES, default 0.6; 0 = never wait). */
  quietCores: number;
  /** Wait at most this long for a quiet machine, ms (BENCH_QUIET_WAIT_MS, default 120000). */
  quietWaitMs: number;
  /**
   * Unrecorded load before the first step of a scenario that uses Kafka, ms (BENCH_KAFKA_WARMUP_MS,
   * default 120000; 0 skips it). A broker JVM started moments before spends twice the CPU of a warm
   * one for its first minute or two (JIT), which showed up as a 30-40% lower result.
   */
  kafkaWarmupMs: number;
  /** Generator processes (BENCH_GENERATORS, default 1). */
  generators: number;
  /** Where result files go (BENCH_RESULTS_DIR, default bench/results). */
  resultsDir: string;
}

const DEFAULT_RATES = [
  1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000, 12000, 15000, 20000, 25000, 30000,
];

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}: expected a non-negative number, got "${raw}"`);
  return n;
}

function list(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.some((n) => !Number.isFinite(n) || n <= 0))
    throw new Error(`${name}: expected numbers like 1000,2000, got "${raw}"`);
  return values;
}

/** Reads the knobs from the environment. */
export function readBenchConfig(overrides: Partial<BenchConfig> = {}): BenchConfig {
  return {
    durationMs: num('BENCH_DURATION_MS', 10000),
    warmupMs: num('BENCH_WARMUP_MS', 3000),
    drainMs: num('BENCH_DRAIN_MS', 3000),
    users: num('BENCH_USERS', 1000),
    bodyBytes: num('BENCH_BODY_BYTES', 100),
    rates: list('BENCH_RATES', DEFAULT_RATES),
    p99LimitMs: num('BENCH_P99_MS', 100),
    fanoutRate: num('BENCH_FANOUT_RATE', 2000),
    fanoutEdges: list('BENCH_FANOUT_EDGES', [1, 2, 4]),
    connections: list('BENCH_CONNECTIONS', [10000, 25000, 50000]),
    idleMs: num('BENCH_IDLE_MS', 30000),
    heartbeatMs: num('BENCH_HEARTBEAT_MS', 10000),
    half: num('BENCH_HALF', 1) !== 0,
    quietCores: num('BENCH_QUIET_CORES', 0.6),
    quietWaitMs: num('BENCH_QUIET_WAIT_MS', 120000),
    kafkaWarmupMs: num('BENCH_KAFKA_WARMUP_MS', 120000),
    generators: num('BENCH_GENERATORS', 1),
    resultsDir: process.env.BENCH_RESULTS_DIR ?? join(PROJECT_ROOT, 'bench', 'results'),
    ...overrides,
  };
}

/** Why a step is not sustainable, or undefined when it is. */
export function unsustainable(r: RunResult, p99LimitMs: number): string | undefined {
  if (r.connectFailures > 0) return `${r.connectFailures} connections failed (${r.connectError ?? ''})`;
  if (r.sent === 0) return 'nothing sent';
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  if (errors > r.sent * 0.001) return `${errors} send errors ${JSON.stringify(r.errors)}`;
  if (r.undelivered > r.sent * 0.001) return `${r.undelivered} of ${r.sent} not delivered within the drain`;
  if (r.deliveredRate < r.offeredRate * 0.97)
    return `delivered ${r.deliveredRate} msg/s of ${r.offeredRate} offered`;
  if (r.deliver.p99 >= p99LimitMs) return `delivery p99 ${r.deliver.p99} ms >= ${p99LimitMs} ms`;
  return undefined;
}

/** One step of a sweep. */
export type SweepStep = RunResult & { sustainable: boolean; reason?: string };

/** The outcome of a saturation sweep. */
export interface Sweep {
  steps: SweepStep[];
  /** Highest offered rate that was sustainable (0 if none). */
  maxSustainableRate: number;
  /** A run at half of maxSustainableRate. */
  atHalf?: SweepStep;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * On a shared machine other work steals the cores the servers need: wait (bounded) until the
 * machine is quiet before a step. Returns the busy cores seen last.
 */
export async function waitForQuiet(config: BenchConfig, log: (line: string) => void): Promise<number> {
  if (config.quietCores <= 0) return 0;
  const deadline = Date.now() + config.quietWaitMs;
  let said = false;
  for (;;) {
    const before = machineBusySeconds();
    await sleep(1000);
    const busy = machineBusySeconds() - before;
    if (busy < config.quietCores || Date.now() >= deadline) {
      if (said)
        log(
          `  machine ${busy < config.quietCores ? 'quiet' : 'still busy'} (${Math.round(busy * 100) / 100} cores busy)`,
        );
      return busy;
    }
    if (!said)
      log(`  waiting for a quiet machine (${Math.round(busy * 100) / 100} cores busy by other work)`);
    said = true;
  }
}

/**
 * Runs rising rates until the first unsustainable step, bisects once between the last good and
 * the first bad rate (or halves down when even the first rate fails), then runs once at half
 * the best rate.
 */
export async function sweep(
  rates: number[],
  p99LimitMs: number,
  half: boolean,
  runAt: (rate: number) => Promise<RunResult>,
  log: (line: string) => void,
): Promise<Sweep> {
  const steps: SweepStep[] = [];
  let best = 0;
  const step = async (rate: number) => {
    const r = await runAt(rate);
    const reason = unsustainable(r, p99LimitMs);
    steps.push({ ...r, sustainable: !reason, ...(reason ? { reason } : {}) });
    log(`  ${rate} msg/s: ${describe(r)}${reason ? `  -> not sustainable: ${reason}` : ''}`);
    return !reason;
  };
  let failed = 0;
  for (const rate of rates) {
    if (!(await step(rate))) {
      failed = rate;
      break;
    }
    best = rate;
  }
  if (failed && best === 0) {
    // Even the first rate was too much: halve down to a floor so there is a number to report.
    for (let rate = Math.round(failed / 2); rate >= 100; rate = Math.round(rate / 2)) {
      if (await step(rate)) {
        best = rate;
        break;
      }
      failed = rate;
    }
  }
  if (failed && best > 0 && failed - best > best * 0.15) {
    // One bisection between the last good and the first bad rate.
    const mid = Math.round((best + failed) / 2 / 100) * 100;
    if (mid > best && mid < failed && (await step(mid))) best = mid;
  }
  steps.sort((a, b) => a.offeredRate - b.offeredRate);
  if (best === 0 || !half) return { steps, maxSustainableRate: best };
  const halfRate = Math.round(best / 2);
  const r = await runAt(halfRate);
  const reason = unsustainable(r, p99LimitMs);
  log(`  half (${halfRate} msg/s): ${describe(r)}`);
  return {
    steps,
    maxSustainableRate: best,
    atHalf: { ...r, sustainable: !reason, ...(reason ? { reason } : {}) },
  };
}

/** One line about a run. */
export function describe(r: RunResult): string {
  const cpu = r.processes.map((p) => `${p.name}=${p.cores}`).join(' ');
  return `[other load ${r.machine.otherCores} cores] delivered ${r.deliveredRate}/s, ack p50/p99 ${r.ack.p50}/${r.ack.p99} ms, deliver p50/p99/max ${r.deliver.p50}/${r.deliver.p99}/${r.deliver.max} ms, cores ${cpu}`;
}

/** Facts about the machine, stored with every result. */
export function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    benchNice: Number(process.env.BENCH_NICE ?? 0),
    infraNice: process.env.BENCH_NICE_INFRA === '1',
    date: new Date().toISOString(),
  };
}

/** Writes bench/results/<name>.json. */
export async function writeResult(
  config: BenchConfig,
  name: string,
  data: Record<string, unknown>,
): Promise<string> {
  await mkdir(config.resultsDir, { recursive: true });
  const file = join(config.resultsDir, `${name}.json`);
  await writeFile(file, `${JSON.stringify({ scenario: name, machine: machine(), ...data }, null, 2)}\n`);
  return file;
}

/** A short unique id for topic, group and user names. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
