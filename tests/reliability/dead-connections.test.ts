/**
 * Clients that vanish without a WebSocket close: cut off abruptly (RST) and half-open (every
 * byte stops, no FIN/RST). The chat server notices (socket error, or no frame for 3 heartbeat
 * intervals: close 4000), presence goes offline, the connections gauge returns to what is really
 * connected (no leaked server state), and SDK clients on a frozen path reconnect by themselves
 * and lose nothing.
 */
import { type AddressInfo, createServer } from 'node:net';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { expect, it } from 'vitest';
import { PresenceService } from '../../gen/chat/v1/presence_pb.js';
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js';
import { connectWs, type TestWsClient } from '../helpers/ws-client.js';
import { startFreezeProxy } from './freeze-proxy.js';
import { connectPairs, sendLoop, settleAndCheck } from './workload.js';

const HEARTBEAT_MS = 500;

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One chat server whose registered (public) URL goes through a freezable proxy. */
async function clusterBehindProxy() {
  const edgePort = await freePort();
  const proxy = await startFreezeProxy(edgePort);
  const cluster = await startCluster({ chatServers: 0, writers: 1, heartbeatIntervalMs: HEARTBEAT_MS });
  const edge = await cluster.startEdge({
    EDGE_PORT: String(edgePort),
    EDGE_PUBLIC_URL: `ws://127.0.0.1:${proxy.port}/ws`,
  });
  return { proxy, cluster, edge, metricsUrl: `http://127.0.0.1:${edgePort}/metrics` };
}

function presenceOf(cluster: Cluster) {
  const client = createClient(
    PresenceService,
    createConnectTransport({ baseUrl: cluster.discoveryUrl, httpVersion: '1.1' }),
  );
  return async (users: string[]) =>
    (await client.getPresence({ userIds: users })).presences.map((p) => p.online);
}

it('abrupt cut-off (RST, no close frame): gauge back to 0, presence offline', async () => {
  const cluster = await startCluster({ chatServers: 1, writers: 1, heartbeatIntervalMs: HEARTBEAT_MS });
  const edge = cluster.edges[0]!;
  const port = Number(new URL(edge.url).port);
  const proxy = await startFreezeProxy(port);
  const users = Array.from({ length: 20 }, () => cluster.user('cut'));
  const clients: TestWsClient[] = [];
  for (const user of users) {
    const c = await connectWs(`ws://127.0.0.1:${proxy.port}/ws`, {
      token: await cluster.token(user),
      heartbeat: {},
    });
    clients.push(c);
  }
  const beats = setInterval(() => {
    for (const c of clients) if (c.ws.readyState === 1) c.heartbeat();
  }, HEARTBEAT_MS / 2);
  try {
    await eventually(async () => (await edge.metric('chat_edge_connections')) === 20, 10_000);
    const online = presenceOf(cluster);
    await eventually(
      async () => (await online(users)).every(Boolean),
      10_000,
      () => online(users),
    );
    proxy.cut();
    await eventually(async () => (await edge.metric('chat_edge_connections')) === 0, 5_000);
    await eventually(
      async () => !(await online(users)).some(Boolean),
      3 * HEARTBEAT_MS + 5_000,
      () => online(users),
    );
    expect(edge.alive()).toBe(true);
  } finally {
    clearInterval(beats);
  }
}, 60_000);

it('half-open sockets (frozen path): heartbeat timeout frees them, SDK clients reconnect, nothing lost', async () => {
  const { proxy, cluster, metricsUrl } = await clusterBehindProxy();
  const connections = async () => {
    const text = await (await fetch(metricsUrl)).text();
    return Number(/^chat_edge_connections(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? Number.NaN);
  };
  const pairs = await connectPairs(cluster, 5);
  await eventually(async () => (await connections()) === 10, 10_000, connections);
  const loop = sendLoop(pairs, { pauseMs: 50 });
  await eventually(() => pairs.recorder.sends.filter((s) => s.ack).length >= 30, 20_000);

  const serverIds = new Map(pairs.all.map((c) => [c, c.welcome]));
  proxy.freeze();
  // Every client notices the silence and reconnects (through the proxy: new connections flow).
  await eventually(
    () => pairs.all.every((c) => c.state === 'connected' && c.welcome !== serverIds.get(c)),
    3 * HEARTBEAT_MS + 8_000,
    () => pairs.all.map((c) => c.state),
  );
  // The server dropped the frozen sockets: only the new ones are counted.
  await eventually(async () => (await connections()) === 10, 3 * HEARTBEAT_MS + 5_000, connections);
  const before = loop.calls;
  await eventually(() => loop.calls >= before + 30, 20_000);
  await loop.stop();
  await settleAndCheck(cluster, pairs);
  for (const c of pairs.all) c.close();
  await eventually(async () => (await connections()) === 0, 5_000, connections);
}, 90_000);
