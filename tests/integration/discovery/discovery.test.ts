/** DiscoveryService against the real ZooKeeper: least loaded, bursts, dead and draining servers. */
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { DiscoveryService } from '../../../gen/chat/v1/discovery_pb.js';
import { PresenceService } from '../../../gen/chat/v1/presence_pb.js';
import { infra } from '../../helpers/infra.js';
import { spawnTs } from '../../helpers/processes.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import { eventually, register, startDiscovery, testBasePath, testClient, testZk } from './helpers.js';

type Servers = { id: string; connections: number; draining: boolean }[];

function counts(servers: Servers): Record<string, number> {
  return Object.fromEntries(servers.map((s) => [s.id, s.connections]));
}

describe('DiscoveryService', () => {
  it('hands out the least-loaded server and follows published counts', async () => {
    const basePath = testBasePath();
    const zk = await testZk();
    const a = await register(zk, basePath, 'a', 30);
    const b = await register(zk, basePath, 'b', 10);
    await register(zk, basePath, 'c', 20);
    const discovery = await startDiscovery({ basePath });
    const client = testClient(DiscoveryService, discovery.url);

    const list = async () => (await client.listChatServers({})).servers;
    expect(counts(await list())).toEqual({ a: 30, b: 10, c: 20 });
    const first = await client.getChatServer({ userId: 'alice' });
    expect(first.server?.id).toBe('b');
    expect(first.server?.wsUrl).toBe('ws://127.0.0.1:1/b');

    b.setConnections(100);
    a.setConnections(5);
    await eventually(list, (s) => counts(s).b === 100 && counts(s).a === 5);
    expect((await client.getChatServer({ userId: 'bob' })).server?.id).toBe('a');
  });

  it('spreads a burst of 3,000 calls over three idle servers evenly', async () => {
    const basePath = testBasePath();
    const zk = await testZk();
    for (const id of ['s1', 's2', 's3']) await register(zk, basePath, id, 0);
    const discovery = await startDiscovery({ basePath });
    const client = testClient(DiscoveryService, discovery.url, 'grpc');

    const tally: Record<string, number> = {};
    for (let batch = 0; batch < 30; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => client.getChatServer({ userId: `u${batch}-${i}` })),
      );
      for (const answer of answers) {
        const id = answer.server!.id;
        tally[id] = (tally[id] ?? 0) + 1;
      }
    }
    expect(Object.keys(tally).sort()).toEqual(['s1', 's2', 's3']);
    for (const n of Object.values(tally)) {
      expect(n).toBeGreaterThanOrEqual(950);
      expect(n).toBeLessThanOrEqual(1050);
    }
  });

  it('never hands out a draining server, and answers UNAVAILABLE when none is left', async () => {
    const basePath = testBasePath();
    const zk = await testZk();
    const idle = await register(zk, basePath, 'idle', 0);
    const busy = await register(zk, basePath, 'busy', 500);
    await idle.drain();
    const discovery = await startDiscovery({ basePath });
    const client = testClient(DiscoveryService, discovery.url);

    const listed = await client.listChatServers({});
    expect(listed.servers.map((s) => [s.id, s.draining])).toEqual([
      ['busy', false],
      ['idle', true],
    ]);
    for (let i = 0; i < 20; i++)
      expect((await client.getChatServer({ userId: `u${i}` })).server?.id).toBe('busy');

    await busy.drain();
    await eventually(
      async () => (await client.listChatServers({})).servers,
      (s) => s.every((x) => x.draining),
    );
    const err = await client.getChatServer({ userId: 'u' }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect((err as ConnectError).rawMessage).toBe('no chat server is available');
  });

  it('drops a server whose process was killed within the session timeout plus one second', async () => {
    const basePath = testBasePath();
    const sessionTimeoutMs = 2000;
    const zk = await testZk();
    await register(zk, basePath, 'survivor', 1000);
    const victim = spawnTs('tests/integration/discovery/fixtures/registration-holder.ts', [
      infra().zookeeperConnect,
      String(sessionTimeoutMs),
      basePath,
      'victim',
      '0',
    ]);
    await victim.waitFor('ready');
    const discovery = await startDiscovery({ basePath });
    const client = testClient(DiscoveryService, discovery.url);
    expect((await client.getChatServer({ userId: 'u' })).server?.id).toBe('victim');

    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually(
      async () => (await client.listChatServers({})).servers.map((s) => s.id),
      (ids) => !ids.includes('victim'),
    );
    expect(Date.now() - killedAt).toBeLessThan(sessionTimeoutMs + 1000);
    expect((await client.getChatServer({ userId: 'u' })).server?.id).toBe('survivor');
  });

  it('sees a paused server vanish when its session expires and come back when it re-registers', async () => {
    const basePath = testBasePath();
    const holder = spawnTs('tests/integration/discovery/fixtures/registration-holder.ts', [
      infra().zookeeperConnect,
      '1500',
      basePath,
      'sleeper',
      '3',
    ]);
    await holder.waitFor('ready');
    const discovery = await startDiscovery({ basePath });
    const client = testClient(DiscoveryService, discovery.url);
    const ids = async () => (await client.listChatServers({})).servers.map((s) => s.id);
    expect(await ids()).toEqual(['sleeper']);

    holder.kill('SIGSTOP');
    await eventually(ids, (list) => list.length === 0);
    holder.kill('SIGCONT');
    await eventually(ids, (list) => list.includes('sleeper'));
    expect((await client.getChatServer({ userId: 'u' })).server?.connections).toBe(3);
  });

  it('lets several discovery processes serve the same servers side by side', async () => {
    const basePath = testBasePath();
    const zk = await testZk();
    await register(zk, basePath, 'x', 7);
    const one = await startDiscovery({ basePath });
    const two = await startDiscovery({ basePath });
    for (const d of [one, two]) {
      const answer = await testClient(DiscoveryService, d.url).getChatServer({ userId: 'u' });
      expect(answer.server?.id).toBe('x');
    }
  });

  it('re-reads the servers after its own ZooKeeper session expired', async () => {
    const basePath = testBasePath();
    const zk = await testZk();
    await register(zk, basePath, 'before', 1);
    const [host, port] = infra().zookeeperConnect.split(',')[0]!.split(':');
    const proxy = await startTcpProxy({ targetHost: host, targetPort: Number(port) });
    const discovery = await startDiscovery({
      basePath,
      zookeeperConnect: `127.0.0.1:${proxy.port}`,
      sessionTimeoutMs: 1500,
    });
    const client = testClient(DiscoveryService, discovery.url);
    const ids = async () => (await client.listChatServers({})).servers.map((s) => s.id);
    expect(await ids()).toEqual(['before']);

    proxy.cut();
    // While cut off, the last view keeps answering; meanwhile the servers change.
    const after = await register(zk, basePath, 'after', 0);
    await after.drain();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await ids()).toEqual(['before']);
    proxy.restore();
    // The old session expired on the server; a new one re-reads everything and re-arms the watches.
    await eventually(ids, (list) => list.join() === 'after,before');
    expect((await client.listChatServers({})).servers.find((s) => s.id === 'after')?.draining).toBe(true);
    await after.stop();
    await eventually(ids, (list) => list.join() === 'before');
  });

  it('starts and hands out servers while Kafka is unreachable; presence answers UNAVAILABLE', async () => {
    const basePath = testBasePath();
    await register(await testZk(), basePath, 'k', 0);
    const discovery = await startDiscovery({ basePath, kafkaBrokers: ['127.0.0.1:1'] });
    expect(
      (await testClient(DiscoveryService, discovery.url).getChatServer({ userId: 'u' })).server?.id,
    ).toBe('k');
    const err = await testClient(PresenceService, discovery.url)
      .getPresence({ userIds: ['u'] })
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unavailable);
  });
});
