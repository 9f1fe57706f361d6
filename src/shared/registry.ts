/**
 * Chat-server registration in ZooKeeper: one ephemeral znode `<basePath>/<id>` per chat server
 * whose data is the binary ChatServer message. Discovery watches these nodes.
 *
 * The connection count changes on every connect and disconnect; writing each change to
 * ZooKeeper would turn a reconnect storm into a write storm on the ensemble. So counts are
 * coalesced: published at most once per `publishIntervalMs`, except that a move of
 * `largeStep` or more since the last published value goes out at once (discovery should learn
 * quickly that a server filled up). Writes are serialised: at most one is in flight.
 *
 * Session loss: while disconnected the server keeps serving; writes are retried on the next
 * `connected` event. After an expiry {@link ZkClient} opens a new session and emits `session`;
 * the node is then re-created with the current data.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ChatServerSchema } from '../../gen/chat/v1/discovery_pb.js';
import { type Env, envMatching } from './config.js';
import { ChatBackendError } from './errors.js';
import type { Logger } from './logger.js';
import { isNodeExists, isNoNode, type ZkClient } from './zookeeper.js';

/** Where chat servers register by default. */
export const CHAT_SERVERS_PATH = '/chat/servers';

/** The part of {@link ZkClient} registration uses (tests may wrap it to count writes). */
export type RegistryZk = Pick<
  ZkClient,
  'create' | 'mkdirp' | 'setData' | 'delete' | 'on' | 'off' | 'generation' | 'connected'
>;

/** Options of {@link createRegistration}. */
export interface RegistrationOptions {
  /** A ZooKeeper client the caller has already started; registration never closes it. */
  zk: RegistryZk;
  /** This chat server: its unique id (the znode name) and the WebSocket URL clients open. */
  server: { id: string; wsUrl: string };
  /** Parent path of the registration nodes. Default {@link CHAT_SERVERS_PATH}; tests pass a unique one. */
  basePath?: string;
  /** Coalescing window for connection-count updates, in ms. Default 1000. */
  publishIntervalMs?: number;
  /** Publish at once when the count moved by at least this much since the last publish. Default 100. */
  largeStep?: number;
  /** Where warnings about failed writes go. Default: nowhere. */
  logger?: Logger;
}

/** One chat server's registration. */
export interface Registration {
  /** Creates the parent path when missing and the ephemeral node with the current data. */
  start(): Promise<void>;
  /** Records the current connection count; cheap, publishing is coalesced. */
  setConnections(count: number): void;
  /** Publishes draining=true at once, so discovery stops handing this server out. */
  drain(): Promise<void>;
  /** Drains (if not yet), deletes the node and stops timers. Does not close the ZooKeeper client. */
  stop(): Promise<void>;
  /** True while the node is believed to exist in the current session. */
  readonly registered: boolean;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Creates a registration; nothing touches ZooKeeper before {@link Registration.start}. */
export function createRegistration(options: RegistrationOptions): Registration {
  const { zk, server } = options;
  const basePath = options.basePath ?? CHAT_SERVERS_PATH;
  const publishIntervalMs = options.publishIntervalMs ?? 1000;
  const largeStep = options.largeStep ?? 100;
  const log = options.logger?.child({ component: 'registry', serverId: server.id });
  if (!ID_PATTERN.test(server.id) || server.id === '.' || server.id === '..') {
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      `server.id: expected 1..128 characters of [A-Za-z0-9._:-], got "${server.id}"`,
    );
  }
  if (!basePath.startsWith('/') || basePath.endsWith('/')) {
    throw new ChatBackendError('CHAT_ERR_CONFIG', `basePath: expected an absolute path, got "${basePath}"`);
  }
  if (!(publishIntervalMs > 0)) {
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      `publishIntervalMs: expected > 0, got ${publishIntervalMs}`,
    );
  }
  if (!(largeStep >= 1)) {
    throw new ChatBackendError('CHAT_ERR_CONFIG', `largeStep: expected >= 1, got ${largeStep}`);
  }
  const path = `${basePath}/${server.id}`;

  let connections = 0;
  let draining = false;
  let published = { connections: -1, draining: false };
  let registered = false;
  let started = false;
  let stopped = false;
  /** The node must be (re-)created before data can be set. */
  let needsCreate = true;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  /** Another write was requested while one was in flight. */
  let again = false;

  const data = () =>
    toBinary(
      ChatServerSchema,
      create(ChatServerSchema, { id: server.id, wsUrl: server.wsUrl, connections, draining }),
    );

  const dirty = () => published.connections !== connections || published.draining !== draining;

  /** Creates the node; a leftover node (ours after a lost reply, or a dead session's) is replaced. */
  async function createNode(): Promise<void> {
    const snapshot = { connections, draining };
    try {
      await zk.create(path, data(), { ephemeral: true });
    } catch (err) {
      if (!isNodeExists(err)) throw err;
      // A node from an older session of ours would vanish when that session expires, taking
      // the registration with it; replace it so the node belongs to the current session.
      await zk.delete(path);
      try {
        await zk.create(path, data(), { ephemeral: true });
      } catch (retryErr) {
        if (!isNodeExists(retryErr)) throw retryErr;
        await zk.setData(path, data());
      }
    }
    needsCreate = false;
    registered = true;
    published = snapshot;
  }

  async function writeOnce(): Promise<void> {
    if (needsCreate) return createNode();
    const snapshot = { connections, draining };
    try {
      await zk.setData(path, data());
      published = snapshot;
    } catch (err) {
      if (!isNoNode(err)) throw err;
      needsCreate = true;
      registered = false;
      await createNode();
    }
  }

  /** Writes the current state now (serialised with any write in flight). */
  function flush(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    if (inFlight) {
      again = true;
      return inFlight;
    }
    const run = async () => {
      try {
        do {
          again = false;
          try {
            await writeOnce();
          } catch (err) {
            // A flush asked for meanwhile (a reconnect, say) gets its own attempt.
            if (!again) throw err;
          }
        } while (again || (dirty() && !stopped));
      } finally {
        inFlight = undefined;
      }
    };
    inFlight = run();
    return inFlight;
  }

  /** A flush whose failure is logged; it is retried on reconnect or on the next change. */
  function flushInBackground(): void {
    flush().catch((err: unknown) => {
      log?.warn({ err }, 'publishing the chat server to ZooKeeper failed; will retry');
      schedule();
    });
  }

  function schedule(): void {
    if (timer || stopped || !started) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (dirty() || needsCreate) flushInBackground();
    }, publishIntervalMs);
    timer.unref();
  }

  let startGeneration = 0;
  const onSession = (generation: number) => {
    if (!started || stopped || generation <= startGeneration) return;
    log?.warn({ generation }, 'new ZooKeeper session; re-creating the registration node');
    needsCreate = true;
    registered = false;
    // The parent is persistent, but recreate it too in case someone removed it meanwhile.
    zk.mkdirp(basePath)
      .then(() => flush())
      .catch((err: unknown) => {
        log?.warn({ err }, 're-creating the registration node failed; will retry');
        schedule();
      });
  };
  const onConnected = () => {
    if (started && !stopped && (dirty() || needsCreate)) flushInBackground();
  };
  const onExpired = () => {
    registered = false;
    needsCreate = true;
  };

  return {
    get registered() {
      return registered;
    },

    async start() {
      if (started) return;
      started = true;
      startGeneration = zk.generation;
      zk.on('session', onSession);
      zk.on('connected', onConnected);
      zk.on('expired', onExpired);
      await zk.mkdirp(basePath);
      await flush();
    },

    setConnections(count: number) {
      if (!Number.isInteger(count) || count < 0) {
        throw new ChatBackendError('CHAT_ERR_INVALID_ARGUMENT', `connections: expected >= 0, got ${count}`);
      }
      connections = count;
      if (!started || stopped) return;
      if (Math.abs(count - Math.max(published.connections, 0)) >= largeStep) flushInBackground();
      else if (dirty()) schedule();
    },

    async drain() {
      draining = true;
      if (!started || stopped) return;
      await flush();
    },

    async stop() {
      if (!started || stopped) return;
      if (!draining) {
        draining = true;
        await flush().catch((err: unknown) => log?.warn({ err }, 'publishing draining=true failed'));
      }
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      zk.off('session', onSession);
      zk.off('connected', onConnected);
      zk.off('expired', onExpired);
      await inFlight?.catch(() => {});
      registered = false;
      await zk.delete(path);
    },
  };
}

/**
 * The registration parent path from the environment, the same variable for chat servers and
 * discovery: CHAT_ZK_BASE_PATH (default {@link CHAT_SERVERS_PATH}).
 */
export function zkBasePathFromEnv(env: Env = process.env): string {
  return envMatching(
    env,
    'CHAT_ZK_BASE_PATH',
    CHAT_SERVERS_PATH,
    /^(\/[A-Za-z0-9._:-]+)+$/,
    'expected an absolute ZooKeeper path like /chat/servers, got',
  );
}
