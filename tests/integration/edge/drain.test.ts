/**
 * The real entry point as a child process: SIGTERM drains (draining=true in ZooKeeper, new
 * upgrades refused with 503, sockets closed with 1012, node deleted) and exits 0 within 10 s;
 * bad configuration exits at once with a one-line error naming the variable.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ChatServerSchema, DiscoveryService } from '../../../gen/chat/v1/discovery_pb.js';
import { createDiscoveryServer } from '../../../src/discovery/index.js';
import { ZkClient } from '../../../src/shared/zookeeper.js';
import { SECRET, startEdges } from '../../helpers/edge-system.js';
import { infra, unique } from '../../helpers/infra.js';
import { spawnTs } from '../../helpers/processes.js';
import { connectWs, upgradeStatus } from '../../helpers/ws-client.js';

function stderrOf(child: { stderr: NodeJS.ReadableStream | null }): () => string {
  let err = '';
  child.stderr?.on('data', (d) => {
    err += String(d);
  });
  return () => err;
}

describe('edge main', () => {
  it('SIGTERM: draining in ZooKeeper (discovery stops choosing it), 503 for new upgrades, 1012, node gone, exit 0 within 10 s', async () => {
    const sys = await startEdges({ edges: 0, writer: false });
    const { zookeeperConnect, kafkaBrokers, databaseUrl } = infra();
    const proc = spawnTs('src/edge/main.ts', [], {
      CHAT_AUTH_SECRET: SECRET,
      EDGE_PORT: '0',
      ZOOKEEPER_CONNECT: zookeeperConnect,
      KAFKA_BROKERS: kafkaBrokers.join(','),
      DATABASE_URL: databaseUrl,
      CHAT_TOPIC_MESSAGES: sys.topics.messages,
      CHAT_TOPIC_PRESENCE: sys.topics.presence,
      CHAT_ZK_BASE_PATH: sys.zkBasePath,
      WRITER_GROUP_ID: sys.writerGroupId,
      EDGE_HEARTBEAT_INTERVAL_MS: '1000',
      LOG_LEVEL: 'warn',
    });
    await proc.waitFor(/edge ready \S+ \S+\n/);
    const [, id, wsUrl] = /edge ready (\S+) (\S+)/.exec(proc.output())!;
    const clients = await Promise.all(
      ['a', 'b', 'c'].map(async (n) =>
        connectWs(wsUrl!, { token: await sys.token(unique(n)), heartbeat: {} }),
      ),
    );
    for (const c of clients) await c.next('catchUpDone');

    const zk = new ZkClient({ connect: zookeeperConnect });
    await zk.start();
    onTestFinished(() => zk.close());
    const path = `${sys.zkBasePath}/${id}`;
    const registered = fromBinary(ChatServerSchema, await zk.getData(path));
    expect(registered).toMatchObject({ id, wsUrl, draining: false });
    const discovery = createDiscoveryServer({ zookeeperConnect, basePath: sys.zkBasePath, port: 0 });
    onTestFinished(() => discovery.close());
    await discovery.start();
    const rpc = createClient(
      DiscoveryService,
      createConnectTransport({ baseUrl: discovery.url, httpVersion: '1.1' }),
    );
    expect((await rpc.getChatServer({ userId: 'x' })).server?.id).toBe(id);

    const seen: ('draining' | 'gone')[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          if (fromBinary(ChatServerSchema, await zk.getData(path)).draining && !seen.includes('draining')) {
            seen.push('draining');
          }
        } catch {
          seen.push('gone');
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const started = Date.now();
    proc.kill('SIGTERM');
    const closes = Promise.all(clients.map((c) => c.closed));
    while (!seen.includes('draining') && Date.now() - started < 5000)
      await new Promise((r) => setTimeout(r, 10));
    expect(await upgradeStatus(wsUrl!, { token: await sys.token(unique('late')) })).toBe(503);
    // Discovery stops handing out the draining server (its view follows ZooKeeper watches).
    const refused = async () => {
      for (;;) {
        try {
          await rpc.getChatServer({ userId: 'x' });
        } catch (err) {
          return ConnectError.from(err).code;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    expect(await refused()).toBe(Code.Unavailable);
    expect((await closes).map((c) => c.code)).toEqual([1012, 1012, 1012]);
    expect(await proc.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10000);
    polling = false;
    await poller;
    expect(seen).toEqual(['draining', 'gone']);
    expect(await zk.exists(path)).toBe(false);
  });

  it('exits 2 with a one-line error naming a bad variable', async () => {
    const cases = [
      [{ CHAT_AUTH_SECRET: 'short' }, 'CHAT_AUTH_SECRET'],
      [{ CHAT_AUTH_SECRET: SECRET, EDGE_PORT: 'eighty' }, 'EDGE_PORT'],
      [{ CHAT_AUTH_SECRET: SECRET, KAFKA_BROKERS: 'nohost' }, 'KAFKA_BROKERS'],
    ] as const;
    await Promise.all(
      cases.map(async ([env, text]) => {
        const proc = spawnTs('src/edge/main.ts', [], { ...env });
        const stderr = stderrOf(proc.child);
        expect(await proc.exited).toBe(2);
        const lines = stderr().trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(text);
      }),
    );
  });
});
