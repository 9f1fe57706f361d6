/**
 * Scenario 5 (`fanout`): CPU per delivered message on each chat server with 1, 2 and 4 chat
 * servers at the same total load (the seed's broadcast routing makes every server consume every
 * message). Scenario 6 (`connections`): idle authenticated connections with heartbeats on one
 * chat server: RSS per connection and heartbeat round-trip percentiles.
 */
import { readFileSync } from 'node:fs';
import { readProc, type WatchedProcess } from '../harness/proc-stats.js';
import { type RunResult, runGenerators } from '../harness/run-generators.js';
import {
  type BenchService,
  lastWord,
  startBenchService,
  stopBenchServices,
  watched,
} from '../harness/services.js';
import { type BenchConfig, describe, runId, waitForQuiet, writeResult } from './common.js';
import { BENCH_SECRET, startOurSystem } from './system.js';

type Log = (line: string) => void;

/** Scenario 5. */
export async function runFanout(config: BenchConfig, log: Log): Promise<Record<string, unknown>> {
  const id = runId();
  const counts = config.fanoutEdges;
  log(`fanout: ${config.fanoutRate} msg/s total over ${counts.join(', ')} chat servers`);
  const system = await startOurSystem({ runId: id, edges: counts[0]!, writer: true, discovery: false });
  const rows: Array<Record<string, unknown>> = [];
  try {
    await system.warmUp(config.kafkaWarmupMs, config.fanoutRate, config.users, log);
    for (const [i, count] of counts.entries()) {
      if (i > 0) await system.setEdges(count);
      await waitForQuiet(config, log);
      const r = await runGenerators({
        transport: system.transport,
        load: {
          prefix: `${id}-e${count}`,
          users: config.users,
          servers: count,
          rate: config.fanoutRate,
          warmupMs: config.warmupMs,
          durationMs: config.durationMs,
          drainMs: config.drainMs,
          bodyBytes: config.bodyBytes,
          connectConcurrency: 50,
        },
        generators: config.generators,
        watch: system.watch,
      });
      const edges = r.processes.filter((p) => p.name.startsWith('edge-'));
      const perEdge = edges.map((p) => ({
        name: p.name,
        cpuSeconds: p.cpuSeconds,
        cores: p.cores,
        usPerMessage: r.delivered ? Math.round((p.cpuSeconds / r.delivered) * 1e7) / 10 : 0,
        peakRssBytes: p.peakRssBytes,
      }));
      const total = edges.reduce((s, p) => s + p.cpuSeconds, 0);
      const row = {
        chatServers: count,
        perEdge,
        totalEdgeCpuSeconds: Math.round(total * 1000) / 1000,
        totalEdgeUsPerMessage: r.delivered ? Math.round((total / r.delivered) * 1e7) / 10 : 0,
        run: r,
      };
      rows.push(row);
      log(
        `  ${count} chat servers: ${row.totalEdgeUsPerMessage} µs CPU per message over all chat servers; ${describe(r)}`,
      );
    }
    const data = {
      description: 'CPU per delivered message on each chat server at the same total load',
      rate: config.fanoutRate,
      users: config.users,
      durationMs: config.durationMs,
      rows,
    };
    await writeResult(config, 'fanout', data);
    return data;
  } finally {
    await system.stop();
  }
}

/** The soft and hard RLIMIT_NOFILE of this process (children inherit it). */
export function openFileLimit(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.match(/\d+|unlimited/g) ?? []).map((v) =>
    v === 'unlimited' ? Infinity : Number(v),
  );
  return { soft: soft ?? 1024, hard: hard ?? 1024 };
}

/** Source addresses 127.0.1.1 .. 127.0.1.<n> (all of 127.0.0.0/8 is loopback on Linux). */
function sourceAddresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type IdleRow = Record<string, unknown> & {
  connected: number;
  rssPerConnectionBytes: number;
  heartbeat: RunResult['heartbeat'];
};

function idleLine(row: IdleRow): string {
  const h = row.heartbeat;
  return `${row.connected} connected in ${row.connectSeconds} s, ${Math.round(row.rssPerConnectionBytes / 102.4) / 10} KiB RSS per connection, heartbeat p50/p99/max ${h.p50}/${h.p99}/${h.max} ms (${h.count} heartbeats), ${row.serverCores} cores`;
}

/** Opens n idle heartbeating connections to one server process and measures its RSS growth and heartbeat round trips. */
async function measureIdle(
  config: BenchConfig,
  prefix: string,
  n: number,
  ceiling: number,
  url: string,
  server: BenchService,
  watch: WatchedProcess[],
): Promise<IdleRow> {
  await waitForQuiet(config, () => {});
  await sleep(1000);
  const pid = server.service.child.pid!;
  const baseline = readProc(pid)?.rssBytes ?? 0;
  let connectedRss = 0;
  // Each generator process holds its share of the sockets under the same open-file limit.
  const generators = Math.max(config.generators, Math.ceil(n / Math.min(9000, ceiling)));
  const r = await runGenerators({
    transport: {
      kind: 'frames',
      urls: [url],
      authSecret: BENCH_SECRET,
      localAddresses: sourceAddresses(100),
    },
    load: {
      prefix,
      users: n,
      servers: 1,
      rate: 0,
      warmupMs: 0,
      durationMs: config.idleMs,
      drainMs: 0,
      bodyBytes: 0,
      connectConcurrency: 100,
    },
    generators,
    watch,
    onConnected: async () => {
      await sleep(2000);
      connectedRss = readProc(pid)?.rssBytes ?? 0;
    },
  });
  const usage = r.processes.find((p) => p.name === server.service.name);
  const endRss = usage?.endRssBytes ?? 0;
  return {
    connections: n,
    connected: r.connected,
    connectFailures: r.connectFailures,
    connectError: r.connectError,
    connectSeconds: Math.round(r.connectMs / 100) / 10,
    baselineRssBytes: baseline,
    connectedRssBytes: connectedRss,
    endRssBytes: endRss,
    peakRssBytes: usage?.peakRssBytes ?? 0,
    rssPerConnectionBytes: r.connected
      ? Math.round((Math.max(connectedRss, endRss) - baseline) / r.connected)
      : 0,
    serverCores: usage?.cores ?? 0,
    heartbeat: r.heartbeat,
    unexpectedCloses: r.unexpectedCloses,
    generators,
    processes: r.processes,
  };
}

/** Scenario 6. */
export async function runConnections(config: BenchConfig, log: Log): Promise<Record<string, unknown>> {
  const id = runId();
  const limit = openFileLimit();
  // The chat server needs one descriptor per socket plus its own (Kafka, ZooKeeper, PostgreSQL, files).
  const ceiling = Math.floor(Math.min(limit.soft, limit.hard) - 1000);
  const rows: Array<Record<string, unknown>> = [];
  const notMeasured: Array<{ connections: number; reason: string }> = [];
  const wanted = [...config.connections];
  const targets: number[] = [];
  for (const n of wanted) {
    if (n <= ceiling) targets.push(n);
    else {
      notMeasured.push({
        connections: n,
        reason: `RLIMIT_NOFILE is ${limit.soft} (hard ${limit.hard}) and cannot be raised here (no CAP_SYS_RESOURCE): one process cannot hold ${n} sockets`,
      });
      if (!targets.includes(ceiling) && ceiling > 0 && wanted.every((w) => w !== ceiling))
        targets.push(ceiling);
    }
  }
  targets.sort((a, b) => a - b);
  log(
    `connections: ${targets.join(', ')} idle connections on one chat server (open-file limit ${limit.soft})`,
  );
  const system = await startOurSystem({
    runId: id,
    edges: 1,
    writer: true,
    discovery: false,
    edgeEnv: { EDGE_HEARTBEAT_INTERVAL_MS: String(config.heartbeatMs) },
  });
  const relayRows: Array<Record<string, unknown>> = [];
  try {
    for (const [i, n] of targets.entries()) {
      if (i > 0) await system.setEdges(1);
      const row = await measureIdle(
        config,
        `${id}-c${n}`,
        n,
        ceiling,
        system.edgeUrls[0]!,
        system.edges[0]!,
        system.watch,
      );
      rows.push(row);
      log(`  ${n} on a chat server: ${idleLine(row)}`);
      // The same connections on the bare relay: what `ws` itself costs per connection.
      const relay = await startBenchService(
        'relay',
        'bench/peers/ws-relay.ts',
        { CHAT_AUTH_SECRET: BENCH_SECRET, RELAY_HEARTBEAT_MS: String(config.heartbeatMs) },
        /relay ready/,
      );
      try {
        const relayRow = await measureIdle(
          config,
          `${id}-r${n}`,
          n,
          ceiling,
          lastWord(relay.readyLine),
          relay,
          watched([relay]),
        );
        relayRows.push(relayRow);
        log(`  ${n} on the bare relay: ${idleLine(relayRow)}`);
      } finally {
        await stopBenchServices([relay], 3000);
      }
    }
    const data = {
      description: 'idle authenticated connections with heartbeats on one chat server process',
      heartbeatIntervalMs: config.heartbeatMs,
      idleMs: config.idleMs,
      openFileLimit: limit,
      rows,
      relayRows,
      notMeasured,
    };
    await writeResult(config, 'connections', data);
    return data;
  } finally {
    await system.stop();
  }
}
