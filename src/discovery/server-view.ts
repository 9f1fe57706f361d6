/**
 * The in-memory view of the registered chat servers, kept current by ZooKeeper watches so
 * that no request ever waits on ZooKeeper.
 *
 * One children watch on the base path tells which servers exist; one data watch per server
 * node tells its latest ChatServer data. Watches are one-shot: each fire re-reads and re-arms.
 * A new session (after expiry) loses every watch, so the whole view is re-read then. While
 * ZooKeeper is unreachable the last view stays in place (a stale answer beats none; health
 * reports NOT_SERVING meanwhile).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { type ChatServer, ChatServerSchema } from '../../gen/chat/v1/discovery_pb.js';
import type { Logger } from '../shared/logger.js';
import { isNoNode, type ZkClient } from '../shared/zookeeper.js';
import { type ServerEntry, ServerTable } from './picker.js';

/** The part of {@link ZkClient} the view uses. */
export type ViewZk = Pick<ZkClient, 'getChildren' | 'getData' | 'mkdirp' | 'on' | 'off' | 'generation'>;

/** Options of {@link ServerView}. */
export interface ServerViewOptions {
  /** A started ZooKeeper client; the view never closes it. */
  zk: ViewZk;
  /** Parent path of the registration nodes, e.g. /chat/servers. */
  basePath: string;
  /** Delay before retrying a failed read, in ms. Default 500. */
  retryDelayMs?: number;
  logger?: Logger;
}

/** The registered chat servers, from ZooKeeper watches. */
export class ServerView {
  /** The servers and this process's assignments since each one's last published count. */
  readonly table = new ServerTable();
  readonly #zk: ViewZk;
  readonly #basePath: string;
  readonly #retryDelayMs: number;
  readonly #log: Logger | undefined;
  /** Children whose data watch is armed in the current session. */
  #armed = new Set<string>();
  #children = new Set<string>();
  #generation = 0;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #loaded = false;

  constructor(options: ServerViewOptions) {
    this.#zk = options.zk;
    this.#basePath = options.basePath;
    this.#retryDelayMs = options.retryDelayMs ?? 500;
    this.#log = options.logger?.child({ component: 'server-view' });
  }

  /** True once the first full read has completed. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Reads the servers and arms the watches; resolves once the view is complete. */
  async start(): Promise<void> {
    this.#zk.on('session', this.#onSession);
    this.#generation = this.#zk.generation;
    await this.#zk.mkdirp(this.#basePath);
    await this.#readChildren();
    this.#loaded = true;
  }

  /** Stops reacting to watches (they may still fire once; they are ignored). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#zk.off('session', this.#onSession);
  }

  /** Snapshot of every registered server, draining ones included, sorted by id. */
  servers(): ChatServer[] {
    return this.table.servers();
  }

  /** Whether a server id is registered now. */
  has(id: string): boolean {
    return this.table.has(id);
  }

  readonly #onSession = (generation: number) => {
    if (this.#closed || generation === this.#generation) return;
    this.#generation = generation;
    this.#log?.info({ generation }, 'new ZooKeeper session; re-reading the chat servers');
    // Every watch died with the old session.
    this.#armed = new Set();
    this.#resync();
  };

  #resync(): void {
    if (this.#closed) return;
    this.#readChildren().catch((err: unknown) => {
      if (this.#closed) return;
      this.#log?.warn({ err }, 'reading the chat servers failed; retrying');
      // Someone removed the base path: put it back so the children watch can be armed again.
      if (isNoNode(err)) this.#zk.mkdirp(this.#basePath).catch(() => {});
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#resync(), this.#retryDelayMs);
      this.#retryTimer.unref();
    });
  }

  async #readChildren(): Promise<void> {
    const generation = this.#generation;
    const names = await this.#zk.getChildren(this.#basePath, () => {
      if (!this.#closed && generation === this.#generation) this.#resync();
    });
    if (this.#closed) return;
    this.#children = new Set(names);
    for (const id of this.table.ids()) {
      if (!this.#children.has(id)) this.table.remove(id);
    }
    await Promise.all(names.filter((name) => !this.#armed.has(name)).map((name) => this.#readServer(name)));
  }

  async #readServer(name: string): Promise<void> {
    const generation = this.#generation;
    this.#armed.add(name);
    let bytes: Uint8Array;
    try {
      bytes = await this.#zk.getData(`${this.#basePath}/${name}`, () => {
        if (this.#closed || generation !== this.#generation) return;
        this.#armed.delete(name);
        this.#readServer(name).catch((err: unknown) => {
          this.#log?.warn({ err, name }, 'reading a chat server failed; resyncing');
          this.#armed.delete(name);
          this.#resync();
        });
      });
    } catch (err) {
      this.#armed.delete(name);
      if (isNoNode(err)) {
        this.table.remove(name);
        return;
      }
      throw err;
    }
    if (this.#closed || !this.#children.has(name)) return;
    let server: ChatServer;
    try {
      server = fromBinary(ChatServerSchema, bytes);
    } catch (err) {
      this.#log?.warn({ err, name }, 'a chat server node holds no ChatServer; ignored');
      this.table.remove(name);
      return;
    }
    // The node name is the identity; data naming another id must not shadow that server.
    if (server.id !== name || server.wsUrl === '') {
      this.#log?.warn(
        { name, id: server.id },
        'a chat server node has a mismatched id or no ws_url; ignored',
      );
      this.table.remove(name);
      return;
    }
    this.table.set(server);
  }
}

export type { ServerEntry };
