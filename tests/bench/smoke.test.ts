/**
 * Smoke run of every benchmark scenario with tiny numbers, so the benchmarks cannot rot. It
 * asserts the shape of the results and that messages and heartbeats actually flowed, never a
 * speed (that is what `npm run bench` is for).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runConnections, runFanout } from '../../bench/scenarios/capacity-scenarios.js';
import { type BenchConfig, readBenchConfig, type Sweep } from '../../bench/scenarios/common.js';
import { runEndToEnd, runRelay, runSocketIoPeer } from '../../bench/scenarios/load-scenarios.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config: BenchConfig = readBenchConfig({
  durationMs: 1000,
  warmupMs: 300,
  drainMs: 3000,
  users: 20,
  bodyBytes: 50,
  rates: [100],
  p99LimitMs: 100000,
  fanoutRate: 100,
  fanoutEdges: [2],
  connections: [200],
  idleMs: 1500,
  heartbeatMs: 500,
  half: false,
  quietCores: 0,
  kafkaWarmupMs: 500,
  generators: 1,
  resultsDir: dir,
});
const quiet = () => {};

function expectSweep(name: string): void {
  const result = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Sweep & {
    machine: { cpus: number };
  };
  expect(result.machine.cpus).toBeGreaterThan(0);
  expect(result.steps.length).toBeGreaterThanOrEqual(1);
  const step = result.steps[0]!;
  expect(step.connected).toBe(20);
  expect(step.sent).toBeGreaterThan(0);
  expect(step.acked).toBe(step.sent);
  expect(step.delivered).toBe(step.sent);
  expect(step.deliver.count).toBe(step.delivered);
  expect(step.deliver.p99).toBeGreaterThan(0);
  expect(step.ack.p50).toBeGreaterThan(0);
  expect(step.processes.find((p) => p.name === 'generator-1')?.cpuSeconds).toBeGreaterThan(0);
  expect(step.processes.every((p) => p.peakRssBytes >= 0)).toBe(true);
  expect(result.maxSustainableRate).toBe(100);
}

describe('benchmark scenarios (smoke)', () => {
  it.concurrent('bare ws relay', async () => {
    await runRelay(config, quiet);
    expectSweep('relay');
  });

  it.concurrent('Socket.IO + Redis peer', async () => {
    await runSocketIoPeer(config, quiet);
    expectSweep('socketio');
  });

  it.concurrent('end to end through our system', async () => {
    await runEndToEnd(config, quiet, false);
    expectSweep('e2e');
    const e2e = JSON.parse(readFileSync(join(dir, 'e2e.json'), 'utf8')) as Sweep;
    const names = e2e.steps[0]!.processes.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(['edge-1', 'edge-2', 'writer', 'discovery', 'kafka', 'postgres']),
    );
  });

  it.concurrent('seed design (insert on the send path)', async () => {
    await runEndToEnd(config, quiet, true);
    expectSweep('seed');
  });

  it.concurrent('fan-out cost per chat server', async () => {
    await runFanout(config, quiet);
    const result = JSON.parse(readFileSync(join(dir, 'fanout.json'), 'utf8')) as {
      rows: Array<{
        chatServers: number;
        perEdge: Array<{ cpuSeconds: number; usPerMessage: number }>;
        run: { delivered: number };
      }>;
    };
    expect(result.rows.map((r) => r.chatServers)).toEqual([2]);
    expect(result.rows[0]!.perEdge).toHaveLength(2);
    expect(result.rows[0]!.run.delivered).toBeGreaterThan(0);
    expect(result.rows[0]!.perEdge.every((e) => e.cpuSeconds > 0 && e.usPerMessage > 0)).toBe(true);
  });

  it.concurrent('idle connection capacity', async () => {
    type Row = {
      connections: number;
      connected: number;
      rssPerConnectionBytes: number;
      heartbeat: { count: number; p99: number };
    };
    await runConnections(config, quiet);
    const result = JSON.parse(readFileSync(join(dir, 'connections.json'), 'utf8')) as {
      rows: Row[];
      relayRows: Row[];
    };
    expect(result.rows).toHaveLength(1);
    expect(result.relayRows).toHaveLength(1);
    for (const row of [result.rows[0]!, result.relayRows[0]!]) {
      expect(row.connected).toBe(200);
      expect(row.heartbeat.count).toBeGreaterThan(0);
      expect(row.heartbeat.p99).toBeGreaterThan(0);
      expect(typeof row.rssPerConnectionBytes).toBe('number');
    }
  });
});
