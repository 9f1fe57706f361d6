/**
 * ZooKeeper (a PRIVATE server; the shared one is never touched) is SIGKILLed and restarted after
 * longer than the session timeout: chat over open sockets goes on meanwhile; after the restart
 * the chat servers' nodes are back in ZooKeeper (ZooKeeper revives persisted sessions on restart,
 * or the servers re-register under new ones), discovery lists them, and a chat server killed
 * afterwards still disappears from discovery within the bound (its session is live and watched).
 * Long: part of `npm run test:faults`.
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { expect, it, onTestFinished } from 'vitest';
import { DiscoveryService } from '../../gen/chat/v1/discovery_pb.js';
import { ZkClient } from '../../src/shared/zookeeper.js';
import { eventually, startCluster } from '../helpers/cluster.js';
import { startOwnServer } from './own-infra.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

/** The chat servers' ZooKeeper session timeout (their default). */
const SESSION_TIMEOUT_MS = 6000;
const BOUND_MS = 2000;

it('ZooKeeper down past the session timeout and restarted: servers re-register, discovery recovers', async () => {
  const zookeeper = await startOwnServer('zookeeper');
  const cluster = await startCluster({ chatServers: 2, writers: 1, zookeeperConnect: zookeeper.address });
  const discovery = createClient(
    DiscoveryService,
    createConnectTransport({ baseUrl: cluster.discoveryUrl, httpVersion: '1.1' }),
  );
  const listed = async () =>
    (await discovery.listChatServers({})).servers
      .filter((s) => !s.draining)
      .map((s) => s.id)
      .sort();
  const all = cluster.edges.map((e) => e.id).sort();
  await eventually(async () => (await listed()).join() === all.join(), 10_000, listed);

  const pairs = await connectPairs(cluster, 4);
  const loop = sendLoop(pairs, { pauseMs: 50 });
  const acked = () => pairs.recorder.sends.filter((s) => s.ack).length;
  await eventually(() => acked() >= 20, 20_000);

  await zookeeper.kill('SIGKILL');
  const atKill = acked();
  // Chat over open sockets does not need ZooKeeper.
  await eventually(() => acked() >= atKill + 40, 20_000);
  await new Promise((r) => setTimeout(r, SESSION_TIMEOUT_MS + 3000));
  await zookeeper.start();
  const restartedAt = Date.now();
  await eventually(async () => (await listed().catch(() => [])).join() === all.join(), 30_000, listed);
  // Read ZooKeeper itself, not discovery's (possibly stale) view.
  const zk = new ZkClient({ connect: zookeeper.address, sessionTimeoutMs: 4000 });
  await zk.start();
  onTestFinished(() => zk.close());
  const registered = async () => (await zk.getChildren(cluster.zkBasePath).catch(() => [])).sort();
  await eventually(async () => (await registered()).join() === all.join(), 30_000, registered);
  const reRegisteredMs = Date.now() - restartedAt;

  // The new sessions are real: a server killed now still vanishes within the bound.
  const victim = cluster.edges[0]!;
  victim.kill('SIGKILL');
  const killedAt = Date.now();
  await eventually(async () => !(await listed()).includes(victim.id), SESSION_TIMEOUT_MS + BOUND_MS, listed);
  const droppedMs = Date.now() - killedAt;

  const before = loop.calls;
  await eventually(() => loop.calls >= before + 40, 30_000);
  await loop.stop();
  const report = await settleAndCheck(cluster, pairs, { timeoutMs: 45_000 });
  expect(cluster.edges[1]!.alive() && cluster.discovery!.alive()).toBe(true);
  console.log(
    `[zookeeper-restarted] registered again ${reRegisteredMs} ms after restart; a killed server dropped after ` +
      `${droppedMs} ms; ${report.summary()}`,
  );
}, 180_000);
