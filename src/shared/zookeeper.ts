/**
 * A small, promise-based ZooKeeper session manager over the native `zookeeper` client.
 *
 * ZooKeeper sessions can expire (a long pause, a partition, a server restart). The native
 * client then closes for good; this wrapper opens a fresh session by itself and emits
 * `session` each time one is established, so owners re-create their ephemeral nodes and
 * re-arm their watches in one place.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { ChatBackendError } from './errors.js';
import type { Logger } from './logger.js';

const require = createRequire(import.meta.url);
// The package is CommonJS with loose typings; we wrap it in the typed surface below.
// biome-ignore lint/suspicious/noExplicitAny: native module without usable types
const NativeZooKeeper: any = require('zookeeper');

const ZNONODE: number = NativeZooKeeper.constants.ZNONODE;
const ZNODEEXISTS: number = NativeZooKeeper.constants.ZNODEEXISTS;
const ZOO_EPHEMERAL: number = NativeZooKeeper.constants.ZOO_EPHEMERAL;
const ZOO_PERSISTENT = 0;

/** Options of {@link ZkClient}. */
export interface ZkClientOptions {
  /** host:port[,host:port]. */
  connect: string;
  /** Session timeout in ms; an unreachable client's ephemeral nodes vanish after it. Default 6000. */
  sessionTimeoutMs?: number;
  /** How long {@link ZkClient.start} waits for the first session, in ms. Default 10000. */
  startTimeoutMs?: number;
  /** Delay before opening a new session after one closed, in ms. Default 500. */
  reopenDelayMs?: number;
  logger?: Logger;
}

/** Called when a watched node or its children change; re-read to re-arm. */
export type ZkWatcher = (event: { type: number; path: string }) => void;

/** Error codes the callers act on. */
export function isNoNode(err: unknown): boolean {
  return zkCode(err) === ZNONODE;
}
export function isNodeExists(err: unknown): boolean {
  return zkCode(err) === ZNODEEXISTS;
}
function zkCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'number') return err.code;
  // The native client rejects with Error objects whose message starts with the numeric rc.
  const m = /^(-?\d+)/.exec(String((err as Error | undefined)?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

/**
 * Events: `session` (a session was established: the first, or a new one after expiry),
 * `connected`, `disconnected` (connection lost; the session may still recover), `expired`
 * (the session is gone; its ephemeral nodes are deleted by the server).
 */
export class ZkClient extends EventEmitter {
  readonly #options: Required<Omit<ZkClientOptions, 'logger'>>;
  readonly #log: Logger | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: native client
  #native: any;
  #connected = false;
  #closed = false;
  #generation = 0;
  #reopenTimer: NodeJS.Timeout | undefined;

  constructor(options: ZkClientOptions) {
    super();
    this.#options = {
      connect: options.connect,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 6000,
      startTimeoutMs: options.startTimeoutMs ?? 10000,
      reopenDelayMs: options.reopenDelayMs ?? 500,
    };
    this.#log = options.logger?.child({ component: 'zookeeper' });
  }

  /** True while the current session is connected. */
  get connected(): boolean {
    return this.#connected;
  }

  /** How many sessions have been established so far. */
  get generation(): number {
    return this.#generation;
  }

  /** Opens the first session; rejects with CHAT_ERR_UNAVAILABLE after startTimeoutMs (and keeps trying). */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('session', onSession);
        reject(
          new ChatBackendError(
            'CHAT_ERR_UNAVAILABLE',
            `ZooKeeper at ${this.#options.connect} did not accept a session within ${this.#options.startTimeoutMs} ms`,
          ),
        );
      }, this.#options.startTimeoutMs);
      const onSession = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('session', onSession);
    });
    this.#open();
    return ready;
  }

  #open(): void {
    if (this.#closed) return;
    const native = new NativeZooKeeper({
      connect: this.#options.connect,
      timeout: this.#options.sessionTimeoutMs,
      debug_level: NativeZooKeeper.constants.ZOO_LOG_LEVEL_ERROR,
      host_order_deterministic: false,
      data_as_buffer: true,
      // The native client treats this many empty polls in a row as an expired session.
      response_counter_limit: 1000,
    });
    native.setLogger(false);
    this.#native = native;
    let established = false;
    native.on('connect', () => {
      if (this.#native !== native) return;
      this.#connected = true;
      if (!established) {
        established = true;
        this.#generation++;
        this.#log?.info({ generation: this.#generation }, 'zookeeper session established');
        this.emit('session', this.#generation);
      }
      this.emit('connected');
    });
    native.on('connecting', () => {
      if (this.#native !== native) return;
      if (this.#connected) {
        this.#connected = false;
        this.#log?.warn('zookeeper connection lost; reconnecting');
        this.emit('disconnected');
      }
    });
    native.on('close', () => {
      if (this.#native !== native) return;
      const wasConnected = this.#connected;
      this.#connected = false;
      this.#native = undefined;
      if (this.#closed) return;
      if (wasConnected) this.emit('disconnected');
      this.#log?.warn('zookeeper session closed or expired; opening a new one');
      this.emit('expired');
      this.#reopenTimer = setTimeout(() => this.#open(), this.#options.reopenDelayMs);
    });
    native.init({});
  }

  #client() {
    if (!this.#native) throw new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'no ZooKeeper session');
    return this.#native;
  }

  /** Creates a node; `ephemeral` nodes vanish with the session. Rejects if it exists. */
  async create(path: string, data: Uint8Array, options: { ephemeral?: boolean } = {}): Promise<void> {
    await this.#client().create(path, Buffer.from(data), options.ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT);
  }

  /** Creates each missing persistent node on the path. */
  async mkdirp(path: string): Promise<void> {
    let current = '';
    for (const part of path.split('/').filter(Boolean)) {
      current += `/${part}`;
      try {
        await this.#client().create(current, Buffer.alloc(0), ZOO_PERSISTENT);
      } catch (err) {
        if (!isNodeExists(err)) throw err;
      }
    }
  }

  /** Replaces a node's data. */
  async setData(path: string, data: Uint8Array): Promise<void> {
    await this.#client().set(path, Buffer.from(data), -1);
  }

  /** Deletes a node (any version); a missing node is not an error. */
  async delete(path: string): Promise<void> {
    try {
      await this.#client().delete_(path, -1);
    } catch (err) {
      if (!isNoNode(err)) throw err;
    }
  }

  /** Whether a node exists. */
  async exists(path: string): Promise<boolean> {
    return Boolean(await this.#client().pathExists(path, false));
  }

  /** A node's data; with a watcher, it fires once on the next change or deletion. */
  async getData(path: string, watcher?: ZkWatcher): Promise<Uint8Array> {
    const client = this.#client();
    const [, data] = watcher
      ? await client.w_get(path, (type: number, _state: number, p: string) => watcher({ type, path: p }))
      : await client.get(path, false);
    return data ? new Uint8Array(data) : new Uint8Array();
  }

  /** A node's children; with a watcher, it fires once on the next change of the list. */
  async getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    const client = this.#client();
    return watcher
      ? await client.w_get_children(path, (type: number, _state: number, p: string) =>
          watcher({ type, path: p }),
        )
      : await client.get_children(path, false);
  }

  /** Closes the session for good (ephemeral nodes are deleted at once). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reopenTimer);
    const native = this.#native;
    this.#native = undefined;
    this.#connected = false;
    if (!native) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      native.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      native.close();
    });
  }
}
