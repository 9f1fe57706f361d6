/**
 * A chat server is SIGKILLed while messages flow: its clients rediscover and reconnect to the
 * survivor within the ZooKeeper session timeout plus a few seconds, unacknowledged sends are
 * resent, and nothing acknowledged is lost, doubled or reordered.
 */
import { expect, it } from 'vitest';
import { eventually, startCluster } from '../helpers/cluster.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

/** The chat servers' ZooKeeper session timeout (their default). */
const SESSION_TIMEOUT_MS = 6000;

it('SIGKILL of a chat server mid-stream: clients move to the survivor, nothing acked is lost', async () => {
  const cluster = await startCluster({ chatServers: 2, writers: 1 });
  const [victim, survivor] = cluster.edges as [(typeof cluster.edges)[0], (typeof cluster.edges)[0]];
  const pairs = await connectPairs(cluster, 6);
  const onVictim = () => pairs.all.filter((c) => c.welcome?.serverId === victim.id);
  expect(onVictim().length, 'discovery spreads clients over both servers').toBeGreaterThan(0);

  const loop = sendLoop(pairs);
  await eventually(() => pairs.recorder.sends.filter((s) => s.ack).length >= 60, 20_000);
  const moved = onVictim();
  victim.kill('SIGKILL');
  const killedAt = Date.now();

  await eventually(
    () => moved.every((c) => c.state === 'connected' && c.welcome?.serverId === survivor.id),
    SESSION_TIMEOUT_MS + 6000,
    () => moved.map((c) => `${c.userId}:${c.state}:${c.welcome?.serverId}`),
  );
  const reconnectMs = Date.now() - killedAt;
  // Keep sending a while on the survivor, then stop.
  const before = loop.calls;
  await eventually(() => loop.calls >= before + 60, 20_000);
  await loop.stop();

  const report = await settleAndCheck(cluster, pairs);
  expect(report.counts.acked).toBeGreaterThan(100);
  console.log(
    `[chat-server-killed] ${moved.length} clients reconnected in ${reconnectMs} ms; ${report.summary()}`,
  );
}, 90_000);
