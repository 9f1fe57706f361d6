/**
 * A chat server is drained with SIGTERM during load: it exits 0 within 10 s, its clients move to
 * the other server, and SDK users see no error at all (every send is acked, no error event),
 * only a reconnect. Nothing is lost, doubled or reordered.
 */
import { expect, it } from 'vitest';
import type { ChatClientError } from '../../src/client/index.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

it('SIGTERM drain during load: exit 0, clients move, zero errors visible to SDK users', async () => {
  const cluster = await startCluster({ chatServers: 2, writers: 1 });
  const [victim, survivor] = cluster.edges as [(typeof cluster.edges)[0], (typeof cluster.edges)[0]];
  const pairs = await connectPairs(cluster, 6);
  const errors: ChatClientError[] = [];
  for (const c of pairs.all) c.on('error', (e) => errors.push(e));
  const moved = pairs.all.filter((c) => c.welcome?.serverId === victim.id);
  expect(moved.length).toBeGreaterThan(0);

  const loop = sendLoop(pairs);
  await eventually(() => pairs.recorder.sends.filter((s) => s.ack).length >= 60, 20_000);
  const drainedAt = Date.now();
  const exit = await victim.stop(15_000);
  const drainMs = Date.now() - drainedAt;
  expect(exit).toBe(0);
  expect(drainMs).toBeLessThan(10_000);

  await eventually(
    () => moved.every((c) => c.state === 'connected' && c.welcome?.serverId === survivor.id),
    10_000,
    () => moved.map((c) => `${c.userId}:${c.state}:${c.welcome?.serverId}`),
  );
  const before = loop.calls;
  await eventually(() => loop.calls >= before + 60, 20_000);
  await loop.stop();

  const report = await settleAndCheck(cluster, pairs);
  expect(report.counts.failed, 'no send failed').toBe(0);
  expect(errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
  console.log(`[chat-server-drained] drain took ${drainMs} ms; ${report.summary()}`);
}, 90_000);
