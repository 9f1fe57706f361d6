/**
 * Discovery benchmark: GetChatServer answered from memory, measured side by side with a no-op
 * RPC on the same server (grpc.health.v1.Health/Check: no ZooKeeper, no picking, just the
 * protocol stack) as the ceiling.
 *
 * The discovery server runs in this process with three registered chat servers (real
 * ZooKeeper). The load comes from a separate process (this file forked with --generator) that
 * speaks gRPC over one HTTP/2 connection with a minimal client, so client overhead stays small:
 *   1. fixed rate (open loop): each call is due at t0 + k/rate whatever happened before, and its
 *      latency counts from that due time, so a stall shows up instead of slowing the sender
 *      (calls go out on 1 ms timer ticks, so up to about 1 ms of that is pacing);
 *   2. saturation (closed loop, fixed concurrency): the most calls per second each RPC sustains.
 * The two RPCs alternate in short rounds (ROUNDS per phase) so that load from other processes
 * on a shared machine hits both alike; the ratio is GetChatServer's saturation rate over the
 * no-op's.
 * Run directly (`tsx bench/discovery.ts [rate] [durationMs]`, default 5000/s for 5 s) it writes
 * bench/results/discovery.json. Needs ZooKeeper (ZOOKEEPER_CONNECT; `npm run infra:up`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import * as hdr from 'hdr-histogram-js';
import { GetChatServerRequestSchema } from '../gen/chat/v1/discovery_pb.js';
import { HealthCheckRequestSchema } from '../gen/grpc/health/v1/health_pb.js';
import { createDiscoveryServer } from '../src/discovery/index.js';
import { COMMON_DEFAULTS } from '../src/shared/config.js';
import { createRegistration, type Registration } from '../src/shared/registry.js';
import { ZkClient } from '../src/shared/zookeeper.js';

/** Options of {@link runDiscoveryBench}. */
export interface DiscoveryBenchOptions {
  /** Length of each measured phase, in ms. Default 5000. */
  durationMs?: number;
  /** Offered calls per second in the fixed-rate phases. Default 5000. */
  rate?: number;
  /** Calls in flight in the saturation phases. Default 64. */
  concurrency?: number;
  /** ZooKeeper connect string. Default env ZOOKEEPER_CONNECT or 127.0.0.1:2181. */
  zookeeperConnect?: string;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

/** Latency percentiles in ms and the achieved rate of one phase. */
export interface PhaseResult {
  calls: number;
  errors: number;
  seconds: number;
  rpcPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Server CPU per call, in microseconds (the discovery process, this one). */
  serverCpuUsPerCall: number;
  /** Load generator CPU per call, in microseconds (the forked client; not in the server's). */
  clientCpuUsPerCall: number;
}

/** What a run returns (and writes to bench/results/discovery.json). */
export interface DiscoveryBenchResult {
  bench: 'discovery';
  at: string;
  /** loadavg() at start and end: other work on a shared machine skews absolute numbers. */
  machine: { cpus: number; node: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  protocol: string;
  noop: string;
  registeredServers: number;
  rate: number;
  durationMs: number;
  concurrency: number;
  fixedRate: { getChatServer: PhaseResult; noop: PhaseResult };
  saturation: { getChatServer: PhaseResult; noop: PhaseResult };
  /** GetChatServer's saturation throughput over the no-op's. */
  ratioToNoop: number;
}

type Method = 'getChatServer' | 'noop';
type Phase = { kind: 'rate'; rate: number } | { kind: 'closed'; concurrency: number };
type ToGenerator = { type: 'phase'; method: Method; phase: Phase; durationMs: number } | { type: 'exit' };
type FromGenerator =
  | { type: 'ready' }
  | {
      type: 'phase-done';
      calls: number;
      errors: number;
      seconds: number;
      histogram: string;
      /** The generator's own CPU time in the phase, in µs. */
      cpuMicros: number;
    };

/** Rounds per comparison; each method gets durationMs in total. */
const ROUNDS = 4;

const PATHS: Record<Method, string> = {
  getChatServer: '/chat.v1.DiscoveryService/GetChatServer',
  noop: '/grpc.health.v1.Health/Check',
};

/** gRPC length-prefixed message frame. */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

// ---------------------------------------------------------------- generator process

async function generator(url: string): Promise<void> {
  const session = http2.connect(url);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  const bodies: Record<Method, Buffer> = {
    getChatServer: grpcFrame(
      toBinary(GetChatServerRequestSchema, create(GetChatServerRequestSchema, { userId: 'bench-user' })),
    ),
    noop: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: '' }))),
  };

  /** One unary call; resolves true on grpc-status 0. */
  const call = (method: Method) =>
    new Promise<boolean>((resolve) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': PATHS[method],
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let ok = false;
      stream.on('trailers', (trailers) => {
        ok = trailers['grpc-status'] === '0';
      });
      stream.on('response', (headers) => {
        // A trailers-only response carries the status in the headers.
        if (headers['grpc-status'] !== undefined) ok = headers['grpc-status'] === '0';
      });
      stream.on('data', () => {});
      stream.on('close', () => resolve(ok));
      stream.on('error', () => resolve(false));
      stream.end(bodies[method]);
    });

  const runPhase = async (method: Method, phase: Phase, durationMs: number) => {
    const histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    let calls = 0;
    let errors = 0;
    const pending = new Set<Promise<void>>();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const record = (dueAt: number, ok: boolean) => {
      calls++;
      if (!ok) errors++;
      histogram.recordValue(Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
    };
    if (phase.kind === 'rate') {
      const interval = 1000 / phase.rate;
      let sent = 0;
      const total = Math.floor((durationMs / 1000) * phase.rate);
      while (sent < total) {
        const now = performance.now();
        while (sent < total && t0 + sent * interval <= now) {
          const dueAt = t0 + sent * interval;
          const p: Promise<void> = call(method).then((ok) => {
            record(dueAt, ok);
            pending.delete(p);
          });
          pending.add(p);
          sent++;
        }
        // A 1 ms timer tick, not a setImmediate loop: that loop spins a whole core between calls
        // (~170 us of client CPU per call at 3,000/s) on the machine the server runs on. Calls due
        // within one tick leave together; latency still counts from each call's due time, so this
        // pacing delay (up to about a millisecond) is in the numbers, not hidden.
        await new Promise((r) => setTimeout(r, 1));
      }
    } else {
      const end = t0 + durationMs;
      const worker = async () => {
        while (performance.now() < end) {
          const startedAt = performance.now();
          record(startedAt, await call(method));
        }
      };
      await Promise.all(Array.from({ length: phase.concurrency }, worker));
    }
    await Promise.all(pending);
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      calls,
      errors,
      seconds,
      histogram: hdr.encodeIntoCompressedBase64(histogram),
      cpuMicros: used.user + used.system,
    };
  };

  const send = (m: FromGenerator) => process.send?.(m);
  process.on('message', (m: ToGenerator) => {
    if (m.type === 'exit') {
      session.close();
      process.disconnect?.();
      return;
    }
    runPhase(m.method, m.phase, m.durationMs).then((r) => send({ type: 'phase-done', ...r }));
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- server side (this process)

type Done = Extract<FromGenerator, { type: 'phase-done' }>;

/** Sums the rounds of one method and phase kind into one result. */
function summarize(rounds: { done: Done; cpuMicros: number }[]): PhaseResult {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let calls = 0;
  let errors = 0;
  let seconds = 0;
  let cpuMicros = 0;
  let clientCpuMicros = 0;
  for (const round of rounds) {
    h.add(hdr.decodeFromCompressedBase64(round.done.histogram));
    calls += round.done.calls;
    errors += round.done.errors;
    seconds += round.done.seconds;
    cpuMicros += round.cpuMicros;
    clientCpuMicros += round.done.cpuMicros;
  }
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    calls,
    errors,
    seconds: Math.round(seconds * 1000) / 1000,
    rpcPerSecond: Math.round(calls / seconds),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    serverCpuUsPerCall: calls ? Math.round((cpuMicros / calls) * 10) / 10 : 0,
    clientCpuUsPerCall: calls ? Math.round((clientCpuMicros / calls) * 10) / 10 : 0,
  };
}

/** Runs the benchmark; see the file comment. */
export async function runDiscoveryBench(options: DiscoveryBenchOptions = {}): Promise<DiscoveryBenchResult> {
  const durationMs = options.durationMs ?? 5000;
  const rate = options.rate ?? 5000;
  const concurrency = options.concurrency ?? 64;
  const log = options.log ?? (() => {});
  const zookeeperConnect =
    options.zookeeperConnect ?? process.env.ZOOKEEPER_CONNECT ?? COMMON_DEFAULTS.zookeeperConnect;
  const loadAverageStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const basePath = `/bench/discovery-${randomBytes(4).toString('hex')}/servers`;

  const zk = new ZkClient({ connect: zookeeperConnect });
  await zk.start();
  const registrations: Registration[] = [];
  const discovery = createDiscoveryServer({ zookeeperConnect, basePath, port: 0 });
  let child: ChildProcess | undefined;
  try {
    for (const id of ['bench-a', 'bench-b', 'bench-c']) {
      const r = createRegistration({ zk, server: { id, wsUrl: `ws://127.0.0.1:1/${id}` }, basePath });
      await r.start();
      registrations.push(r);
    }
    await discovery.start();
    log(`discovery on ${discovery.url} with ${registrations.length} registered servers`);

    const self = fileURLToPath(import.meta.url);
    const proc = fork(self, ['--generator', discovery.url], {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    });
    child = proc;
    const messages: FromGenerator[] = [];
    let wake: (() => void) | undefined;
    proc.on('message', (m: FromGenerator) => {
      messages.push(m);
      wake?.();
    });
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
    });
    const next = async (): Promise<FromGenerator> => {
      while (messages.length === 0) {
        await Promise.race([new Promise<void>((r) => (wake = r)), exited]);
      }
      return messages.shift()!;
    };
    await next(); // ready

    const round = async (method: Method, p: Phase, ms: number) => {
      const cpu = process.cpuUsage();
      proc.send({ type: 'phase', method, phase: p, durationMs: ms } satisfies ToGenerator);
      const done = await next();
      if (done.type !== 'phase-done') throw new Error('unexpected generator message');
      const used = process.cpuUsage(cpu);
      return { done, cpuMicros: used.user + used.system };
    };
    /** Alternates the two methods in short rounds so drift on a shared machine hits both alike. */
    const compare = async (p: Phase, label: string) => {
      const rounds: Record<Method, { done: Done; cpuMicros: number }[]> = { getChatServer: [], noop: [] };
      for (let i = 0; i < ROUNDS; i++) {
        for (const method of ['getChatServer', 'noop'] as const) {
          rounds[method].push(await round(method, p, durationMs / ROUNDS));
        }
      }
      const result = { getChatServer: summarize(rounds.getChatServer), noop: summarize(rounds.noop) };
      for (const method of ['getChatServer', 'noop'] as const)
        log(`${label} ${method}: ${JSON.stringify(result[method])}`);
      return result;
    };

    // Warm-up: JIT, connection, first allocations.
    await round('getChatServer', { kind: 'closed', concurrency: 16 }, Math.min(1000, durationMs));
    await round('noop', { kind: 'closed', concurrency: 16 }, Math.min(1000, durationMs));

    const fixedRate = await compare({ kind: 'rate', rate }, `fixed rate ${rate}/s`);
    const saturation = await compare({ kind: 'closed', concurrency }, `saturation x${concurrency}`);
    proc.send({ type: 'exit' } satisfies ToGenerator);

    return {
      bench: 'discovery',
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        node: process.version,
        loadAverageStart,
        loadAverageEnd: loadavg().map((x) => Math.round(x * 100) / 100),
      },
      protocol: 'gRPC over one cleartext HTTP/2 connection',
      noop: 'grpc.health.v1.Health/Check on the same server',
      registeredServers: registrations.length,
      rate,
      durationMs,
      concurrency,
      fixedRate,
      saturation,
      ratioToNoop:
        Math.round((saturation.getChatServer.rpcPerSecond / saturation.noop.rpcPerSecond) * 1000) / 1000,
    };
  } finally {
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          child?.kill('SIGKILL');
          resolve();
        }, 3000);
        child?.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await discovery.close();
    for (const r of registrations) await r.stop().catch(() => {});
    await zk.close();
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly && process.argv[2] === '--generator') {
  await generator(process.argv[3]!);
} else if (invokedDirectly) {
  const rate = Number(process.argv[2] ?? 5000);
  const durationMs = Number(process.argv[3] ?? 5000);
  const result = await runDiscoveryBench({ rate, durationMs, log: (line) => console.log(line) });
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'discovery.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${out}`);
}
