/**
 * Registration edge cases with a small fake ZooKeeper: a leftover node, a node deleted behind
 * its back, a new session, writes while disconnected. (tests/integration/discovery covers the
 * same against the real server, including a real session expiry.)
 */
import { EventEmitter } from 'node:events';
import { fromBinary } from '@bufbuild/protobuf';
import { describe, expect, it, vi } from 'vitest';
import { ChatServerSchema } from '../../../gen/chat/v1/discovery_pb.js';
import { createRegistration, type RegistryZk } from '../../../src/shared/registry.js';

const ZNONODE = -101;
const ZNODEEXISTS = -110;
const ZCONNECTIONLOSS = -4;

/** An in-memory ZooKeeper with injectable failures. */
class FakeZk extends EventEmitter {
  generation = 1;
  connected = true;
  readonly nodes = new Map<string, Uint8Array>();
  readonly calls: string[] = [];
  fail: { op: string; code: number } | undefined;

  #maybeFail(op: string) {
    this.calls.push(op);
    if (this.fail?.op === op) {
      const code = this.fail.code;
      this.fail = undefined;
      throw Object.assign(new Error(`${code}`), { code });
    }
  }
  async mkdirp(_path: string) {
    this.#maybeFail('mkdirp');
  }
  async create(path: string, data: Uint8Array) {
    this.#maybeFail('create');
    if (this.nodes.has(path)) throw Object.assign(new Error('exists'), { code: ZNODEEXISTS });
    this.nodes.set(path, data);
  }
  async setData(path: string, data: Uint8Array) {
    this.#maybeFail('setData');
    if (!this.nodes.has(path)) throw Object.assign(new Error('no node'), { code: ZNONODE });
    this.nodes.set(path, data);
  }
  async delete(path: string) {
    this.#maybeFail('delete');
    this.nodes.delete(path);
  }
  data(path: string) {
    const bytes = this.nodes.get(path);
    return bytes && fromBinary(ChatServerSchema, bytes);
  }
}

function setup(options: { publishIntervalMs?: number } = {}) {
  const zk = new FakeZk();
  const registration = createRegistration({
    zk: zk as unknown as RegistryZk,
    server: { id: 's1', wsUrl: 'ws://h/ws' },
    basePath: '/b',
    publishIntervalMs: options.publishIntervalMs ?? 1000,
    largeStep: 100,
  });
  return { zk, registration };
}

describe('createRegistration', () => {
  it('replaces a leftover node of the same id so it belongs to the current session', async () => {
    const { zk, registration } = setup();
    zk.nodes.set('/b/s1', new Uint8Array([1, 2, 3]));
    await registration.start();
    expect(zk.calls).toEqual(['mkdirp', 'create', 'delete', 'create']);
    expect(zk.data('/b/s1')?.id).toBe('s1');
    expect(registration.registered).toBe(true);
  });

  it('re-creates the node when it was deleted behind its back', async () => {
    vi.useFakeTimers();
    try {
      const { zk, registration } = setup({ publishIntervalMs: 50 });
      await registration.start();
      zk.nodes.clear();
      registration.setConnections(3);
      await vi.advanceTimersByTimeAsync(60);
      expect(zk.data('/b/s1')?.connections).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('re-creates the node with the current data on a new session', async () => {
    const { zk, registration } = setup();
    await registration.start();
    registration.setConnections(150);
    await vi.waitFor(() => expect(zk.data('/b/s1')?.connections).toBe(150));
    // The session expired: the server deleted the ephemeral node; a new session opens.
    zk.nodes.clear();
    zk.emit('expired');
    expect(registration.registered).toBe(false);
    zk.generation = 2;
    zk.emit('session', 2);
    zk.emit('connected');
    await vi.waitFor(() => expect(zk.data('/b/s1')?.connections).toBe(150));
    expect(registration.registered).toBe(true);
  });

  it('keeps the latest count through a failed write and publishes it on reconnect', async () => {
    const { zk, registration } = setup({ publishIntervalMs: 60_000 });
    await registration.start();
    zk.fail = { op: 'setData', code: ZCONNECTIONLOSS };
    registration.setConnections(500); // a large step: written at once, and the write fails
    await vi.waitFor(() => expect(zk.calls.filter((c) => c === 'setData')).toHaveLength(1));
    expect(zk.data('/b/s1')?.connections).toBe(0);
    zk.emit('connected');
    await vi.waitFor(() => expect(zk.data('/b/s1')?.connections).toBe(500));
  });

  it('drains before it deletes, and stops publishing afterwards', async () => {
    const { zk, registration } = setup({ publishIntervalMs: 10 });
    await registration.start();
    const seen: boolean[] = [];
    const setData = zk.setData.bind(zk);
    zk.setData = async (path, data) => {
      seen.push(fromBinary(ChatServerSchema, data).draining);
      return setData(path, data);
    };
    await registration.stop();
    expect(seen).toEqual([true]);
    expect(zk.nodes.size).toBe(0);
    registration.setConnections(9);
    await new Promise((r) => setTimeout(r, 30));
    expect(zk.nodes.size).toBe(0);
  });

  it('refuses ids that cannot be a znode name and negative counts', () => {
    const zk = new FakeZk() as unknown as RegistryZk;
    expect(() => createRegistration({ zk, server: { id: 'a/b', wsUrl: 'ws://h' } })).toThrow(/^server\.id: /);
    expect(() => createRegistration({ zk, server: { id: '..', wsUrl: 'ws://h' } })).toThrow(/^server\.id: /);
    const { registration } = setup();
    expect(() => registration.setConnections(-1)).toThrow(/connections/);
  });
});
