/** Chat-server registration against the real ZooKeeper: data, coalescing, drain, session expiry. */
import { fromBinary } from '@bufbuild/protobuf';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type ChatServer, ChatServerSchema } from '../../../gen/chat/v1/discovery_pb.js';
import { createRegistration } from '../../../src/shared/registry.js';
import type { ZkClient } from '../../../src/shared/zookeeper.js';
import { infra, unique } from '../../helpers/infra.js';
import { spawnTs } from '../../helpers/processes.js';
import { eventually, testZk } from './helpers.js';

async function read(zk: ZkClient, path: string): Promise<ChatServer> {
  return fromBinary(ChatServerSchema, await zk.getData(path));
}

describe('registration', () => {
  it('creates the parent path and an ephemeral node with the binary ChatServer, drains, then deletes', async () => {
    const basePath = `/test/${unique('reg')}/servers`;
    const zk = await testZk();
    const watcher = await testZk();
    const registration = createRegistration({ zk, server: { id: 's1', wsUrl: 'ws://h:1/ws' }, basePath });
    registration.setConnections(7);
    await registration.start();
    expect(registration.registered).toBe(true);
    expect(await watcher.getChildren(basePath)).toEqual(['s1']);
    const data = await read(watcher, `${basePath}/s1`);
    expect({ ...data, $typeName: undefined }).toEqual({
      $typeName: undefined,
      id: 's1',
      wsUrl: 'ws://h:1/ws',
      connections: 7,
      draining: false,
    });

    await registration.drain();
    expect((await read(watcher, `${basePath}/s1`)).draining).toBe(true);
    await registration.stop();
    expect(registration.registered).toBe(false);
    expect(await watcher.getChildren(basePath)).toEqual([]);
    // The caller's client is still usable.
    expect(zk.connected).toBe(true);
  });

  it('coalesces many count changes into few writes', async () => {
    const basePath = `/test/${unique('reg')}`;
    const zk = await testZk();
    let writes = 0;
    const counting = {
      create: zk.create.bind(zk),
      mkdirp: zk.mkdirp.bind(zk),
      delete: zk.delete.bind(zk),
      on: zk.on.bind(zk),
      off: zk.off.bind(zk),
      get generation() {
        return zk.generation;
      },
      get connected() {
        return zk.connected;
      },
      setData: (path: string, data: Uint8Array) => {
        writes++;
        return zk.setData(path, data);
      },
    };
    const registration = createRegistration({
      zk: counting,
      server: { id: 's1', wsUrl: 'ws://h:1/ws' },
      basePath,
      publishIntervalMs: 300,
      largeStep: 1000,
    });
    await registration.start();
    onTestFinished(() => registration.stop());
    for (let i = 1; i <= 500; i++) registration.setConnections(i % 50);
    registration.setConnections(42);
    await eventually(
      () => read(zk, `${basePath}/s1`),
      (s) => s.connections === 42,
    );
    expect(writes).toBeLessThanOrEqual(2);
  });

  it('publishes a large step at once instead of waiting for the window', async () => {
    const basePath = `/test/${unique('reg')}`;
    const zk = await testZk();
    const registration = createRegistration({
      zk,
      server: { id: 's1', wsUrl: 'ws://h:1/ws' },
      basePath,
      publishIntervalMs: 120_000,
      largeStep: 100,
    });
    await registration.start();
    onTestFinished(() => registration.stop());
    registration.setConnections(99);
    registration.setConnections(100);
    // Far sooner than the two-minute window: only the large step can have published it.
    const seen = await eventually(
      () => read(zk, `${basePath}/s1`),
      (s) => s.connections === 100,
      10_000,
    );
    expect(seen.connections).toBe(100);
  });

  it('re-creates its node after its session expired (process paused past the timeout)', async () => {
    const basePath = `/test/${unique('reg')}`;
    const watcher = await testZk();
    const holder = spawnTs('tests/integration/discovery/fixtures/registration-holder.ts', [
      infra().zookeeperConnect,
      '1500',
      basePath,
      'paused',
      '5',
    ]);
    await holder.waitFor('ready');
    expect((await read(watcher, `${basePath}/paused`)).connections).toBe(5);

    holder.kill('SIGSTOP');
    await eventually(
      () => watcher.getChildren(basePath),
      (children) => children.length === 0,
    );
    holder.kill('SIGCONT');
    await holder.waitFor('session 2');
    const back = await eventually(
      () => read(watcher, `${basePath}/paused`),
      () => true,
    );
    expect(back.connections).toBe(5);
    expect(back.draining).toBe(false);
  });
});
