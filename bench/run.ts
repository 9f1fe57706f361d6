/**
 * `npm run bench [-- scenario ...]`: runs the benchmark scenarios one after another on this
 * machine, writes bench/results/<scenario>.json and renders docs/benchmarks.md.
 *
 * Scenarios: relay, socketio, e2e, seed, fanout, connections, components (default: all, in that
 * order). Knobs: BENCH_DURATION_MS, BENCH_WARMUP_MS, BENCH_DRAIN_MS, BENCH_USERS,
 * BENCH_BODY_BYTES, BENCH_RATES, BENCH_P99_MS, BENCH_FANOUT_RATE, BENCH_FANOUT_EDGES,
 * BENCH_CONNECTIONS, BENCH_IDLE_MS, BENCH_HEARTBEAT_MS, BENCH_GENERATORS, BENCH_RESULTS_DIR,
 * BENCH_WRITER_ROWS, BENCH_DISCOVERY_RATE, BENCH_DISCOVERY_MS, BENCH_VERBOSE=1 (server logs),
 * BENCH_NO_REPORT=1 (skip rendering docs/benchmarks.md), BENCH_NICE (priority of the bench's
 * processes, e.g. -10 on a shared machine), BENCH_NICE_INFRA=1 (the same priority for Kafka,
 * ZooKeeper and PostgreSQL during the run, restored after), BENCH_QUIET_CORES, BENCH_QUIET_WAIT_MS, BENCH_KAFKA_WARMUP_MS. See docs/benchmarks.md.
 */

import { infraProcesses } from './harness/proc-stats.js';
import { killAllBenchServices, setProcessNice } from './harness/services.js';
import { renderReport } from './report.js';
import { runConnections, runFanout } from './scenarios/capacity-scenarios.js';
import { type BenchConfig, readBenchConfig } from './scenarios/common.js';
import { runComponents } from './scenarios/components.js';
import { runEndToEnd, runRelay, runSocketIoPeer } from './scenarios/load-scenarios.js';

type Log = (line: string) => void;

/** Every scenario by name, in the default order. */
export const SCENARIOS: Record<string, (config: BenchConfig, log: Log) => Promise<unknown>> = {
  relay: runRelay,
  socketio: runSocketIoPeer,
  e2e: (c, l) => runEndToEnd(c, l, false),
  seed: (c, l) => runEndToEnd(c, l, true),
  fanout: runFanout,
  connections: runConnections,
  components: runComponents,
};

async function main(): Promise<void> {
  const names = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length) {
    console.error(`unknown scenario ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
  const config = readBenchConfig();
  // BENCH_NICE_INFRA=1: Kafka, ZooKeeper and PostgreSQL get the bench's priority for the run and
  // normal priority back at the end (a shared machine's other work would otherwise starve them).
  const infraNice = process.env.BENCH_NICE_INFRA === '1' ? Number(process.env.BENCH_NICE ?? 0) : 0;
  const infraPids = () => infraProcesses().flatMap((w) => w.pids());
  const restoreInfra = () => {
    if (infraNice) for (const pid of infraPids()) setProcessNice(pid, 0);
  };
  if (infraNice) for (const pid of infraPids()) setProcessNice(pid, infraNice);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllBenchServices();
      restoreInfra();
      process.exit(130);
    });
  }
  const log: Log = (line) => console.log(`[bench] ${line}`);
  let failed = false;
  for (const name of names.length ? names : Object.keys(SCENARIOS)) {
    const started = Date.now();
    try {
      await SCENARIOS[name]!(config, log);
      log(`${name}: done in ${Math.round((Date.now() - started) / 1000)} s`);
    } catch (err) {
      failed = true;
      log(`${name}: FAILED ${(err as Error).stack ?? String(err)}`);
    }
  }
  restoreInfra();
  if (process.env.BENCH_NO_REPORT !== '1') {
    const file = await renderReport(config.resultsDir);
    log(`report: ${file}`);
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1]?.endsWith('run.ts')) await main();
