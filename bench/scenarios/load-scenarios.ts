/**
 * The load scenarios (1-4): the same generator, users and frames against our system, the seed
 * design, the Socket.IO + Redis peer and the bare relay, each swept to saturation.
 */

import { ensureInfra } from '../../src/infra/infra.js';
import { pidsByComm, type WatchedProcess } from '../harness/proc-stats.js';
import { type RunResult, runGenerators } from '../harness/run-generators.js';
import {
  type BenchService,
  lastWord,
  startBenchService,
  stopBenchServices,
  watched,
} from '../harness/services.js';
import type { TransportSpec } from '../harness/transport.js';
import { createPeerTable, dropPeerTable } from '../peers/socketio.js';
import { type BenchConfig, runId, sweep, waitForQuiet, writeResult } from './common.js';
import { BENCH_SECRET, startOurSystem } from './system.js';

type Log = (line: string) => void;

async function runStep(
  config: BenchConfig,
  transport: TransportSpec,
  prefix: string,
  rate: number,
  watch: WatchedProcess[],
  log: Log,
): Promise<RunResult> {
  await waitForQuiet(config, log);
  return runGenerators({
    transport,
    load: {
      prefix,
      users: config.users,
      servers: transport.urls.length,
      rate,
      warmupMs: config.warmupMs,
      durationMs: config.durationMs,
      drainMs: config.drainMs,
      bodyBytes: config.bodyBytes,
      connectConcurrency: 50,
    },
    generators: config.generators,
    watch,
  });
}

function knobs(config: BenchConfig): Record<string, unknown> {
  const { resultsDir: _, ...rest } = config;
  return rest;
}

/**
 * Scenario 1 (`e2e`): 2 chat servers, discovery, writer, Kafka, PostgreSQL. Scenario 2
 * (`seed`): the same with EDGE_SEND_PATH_INSERT=true and no writer.
 */
export async function runEndToEnd(
  config: BenchConfig,
  log: Log,
  seed: boolean,
): Promise<Record<string, unknown>> {
  const name = seed ? 'seed' : 'e2e';
  const id = runId();
  log(
    `${name}: starting 2 chat servers${seed ? ' (insert on the send path, no writer)' : ', writer'}, discovery`,
  );
  const system = await startOurSystem({
    runId: id,
    edges: 2,
    writer: !seed,
    discovery: true,
    sendPathInsert: seed,
  });
  try {
    await system.warmUp(config.kafkaWarmupMs, Math.min(2000, config.rates[0] ?? 2000), config.users, log);
    let steps = 0;
    const result = await sweep(
      config.rates,
      config.p99LimitMs,
      config.half,
      async (rate) => {
        // Fresh chat servers for every step, so every step starts from the same state (no
        // sessions, heap or consumer lag left over from the step before).
        if (steps++ > 0) await system.setEdges(2);
        await system.prepareConnects();
        return runStep(config, system.transport, `${id}-r${rate}`, rate, system.watch, log);
      },
      log,
    );
    const data = {
      description: seed
        ? 'seed design: INSERT per message on the send path, no writer'
        : 'our system end to end',
      config: knobs(config),
      chatServers: 2,
      ...result,
    };
    await writeResult(config, name, data);
    return data;
  } finally {
    await system.stop();
  }
}

/** Scenario 3 (`socketio`): two Socket.IO instances with the Redis adapter, one INSERT per message. */
export async function runSocketIoPeer(config: BenchConfig, log: Log): Promise<Record<string, unknown>> {
  const id = runId();
  const infra = await ensureInfra();
  const table = `bench_sio_${id}`;
  await createPeerTable(infra.databaseUrl, table);
  const instances: BenchService[] = [];
  try {
    log('socketio: starting 2 Socket.IO instances (Redis adapter, INSERT per message)');
    for (let i = 1; i <= 2; i++) {
      instances.push(
        await startBenchService(
          `socketio-${i}`,
          'bench/peers/socketio.ts',
          {
            CHAT_AUTH_SECRET: BENCH_SECRET,
            DATABASE_URL: infra.databaseUrl,
            PEER_TABLE: table,
            PEER_CHANNEL: `bench-sio-${id}`,
          },
          /socketio ready/,
        ),
      );
    }
    const transport: TransportSpec = {
      kind: 'socketio',
      urls: instances.map((s) => lastWord(s.readyLine)),
      authSecret: BENCH_SECRET,
    };
    const watch: WatchedProcess[] = [
      ...watched(instances),
      { name: 'redis', pids: () => pidsByComm('redis-server') },
      { name: 'postgres', pids: () => pidsByComm('postgres') },
    ];
    const result = await sweep(
      config.rates,
      config.p99LimitMs,
      config.half,
      (rate) => runStep(config, transport, `${id}-r${rate}`, rate, watch, log),
      log,
    );
    const data = {
      description: 'Socket.IO 4.8 + @socket.io/redis-adapter, 2 instances, one INSERT per message',
      config: knobs(config),
      instances: 2,
      ...result,
    };
    await writeResult(config, 'socketio', data);
    return data;
  } finally {
    await stopBenchServices(instances, 3000);
    await dropPeerTable(infra.databaseUrl, table).catch(() => {});
    await infra.stop();
  }
}

/** Scenario 4 (`relay`): the bare ws relay, one process. */
export async function runRelay(config: BenchConfig, log: Log): Promise<Record<string, unknown>> {
  const id = runId();
  log('relay: starting the bare ws relay');
  const relay = await startBenchService(
    'relay',
    'bench/peers/ws-relay.ts',
    { CHAT_AUTH_SECRET: BENCH_SECRET },
    /relay ready/,
  );
  try {
    const transport: TransportSpec = {
      kind: 'frames',
      urls: [lastWord(relay.readyLine)],
      authSecret: BENCH_SECRET,
    };
    const result = await sweep(
      config.rates,
      config.p99LimitMs,
      config.half,
      (rate) => runStep(config, transport, `${id}-r${rate}`, rate, watched([relay]), log),
      log,
    );
    const data = {
      description: 'bare ws relay: one process, in-memory routing, our frames',
      config: knobs(config),
      ...result,
    };
    await writeResult(config, 'relay', data);
    return data;
  } finally {
    await stopBenchServices([relay], 3000);
  }
}
