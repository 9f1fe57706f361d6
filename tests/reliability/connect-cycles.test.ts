/**
 * Connect/disconnect cycles against a real chat server process: each cycle opens a WebSocket,
 * waits for catch-up to finish, and closes (every 10th drops the TCP connection without a close
 * frame). Afterwards the connections gauge is 0, the process holds no more file descriptors than
 * before, and its heap is back near the baseline taken after warm-up.
 *
 * CI: 1,000 cycles; `npm run test:faults`: 10,000 (or CYCLES=n).
 */
import { readdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectWs } from '../helpers/ws-client.js';
import { FAULTS, GC_ON_SIGNAL_ENV, liveHeap } from './workload.js';

const CYCLES = Number(process.env.CYCLES ?? (FAULTS ? 10_000 : 1000));
const CONCURRENCY = 20;
const WARMUP = Math.min(500, Math.floor(CYCLES / 5));
const MiB = 1024 * 1024;

it(`${CYCLES} connect/disconnect cycles: gauge 0, no leaked descriptors, heap back to baseline`, async () => {
  const cluster = await startCluster({
    chatServers: 1,
    writers: 1,
    edgeEnv: GC_ON_SIGNAL_ENV,
  });
  const edge = cluster.edges[0]!;
  const users = Array.from({ length: 50 }, () => cluster.user('cycle'));
  const tokens = await Promise.all(users.map((u) => cluster.token(u)));
  const fds = () => readdirSync(`/proc/${edge.pid}/fd`).length;
  const heap = () => liveHeap(edge);

  let next = 0;
  const run = async (upTo: number) => {
    const worker = async () => {
      while (next < upTo) {
        const i = next++;
        const c = await connectWs(edge.url, { token: tokens[i % tokens.length]!, heartbeat: {} });
        await c.next('catchUpDone');
        if (i % 10 === 9) c.ws.terminate();
        else await c.close();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };

  await run(WARMUP);
  await eventually(async () => (await edge.metric('chat_edge_connections')) === 0, 10_000);
  await new Promise((r) => setTimeout(r, 2000));
  const fdBaseline = fds();
  const heapBaseline = await heap();
  const started = Date.now();
  await run(CYCLES);
  const tookMs = Date.now() - started;

  await eventually(async () => (await edge.metric('chat_edge_connections')) === 0, 10_000);
  // Let timers of closed sessions fire, then collect and compare.
  let heapEnd = Number.POSITIVE_INFINITY;
  await eventually(
    async () => {
      heapEnd = Math.min(heapEnd, await heap());
      return heapEnd <= heapBaseline + 3 * MiB && fds() <= fdBaseline + 5;
    },
    30_000,
    async () => ({ heapBaseline, heapEnd, fdBaseline, fds: fds() }),
    1000,
  );
  expect(edge.alive()).toBe(true);
  console.log(
    `[connect-cycles] ${CYCLES - WARMUP} cycles in ${tookMs} ms; heap ${(heapBaseline / MiB).toFixed(1)} -> ` +
      `${(heapEnd / MiB).toFixed(1)} MiB; fds ${fdBaseline} -> ${fds()}`,
  );
}, 600_000);
