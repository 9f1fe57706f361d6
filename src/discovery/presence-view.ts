/**
 * Presence from the compacted presence topic: per user, the latest PresenceEvent of each chat
 * server (key "<user>/<server>"). A user is online while some chat server that is live in the
 * ZooKeeper view says so; a dead server's last word does not keep its users online.
 *
 * The topic is read from the beginning by a consumer group unique to this process (every
 * discovery needs every record) that commits nothing: a restart re-reads the compacted topic.
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Consumer, Kafka } from 'kafkajs';
import { type Presence, type PresenceEvent, PresenceSchema } from '../../gen/chat/v1/presence_pb.js';
import { decodePresenceEvent, msOf } from '../shared/codec.js';
import { fastConsumerConfig } from '../shared/kafka.js';
import type { Logger } from '../shared/logger.js';
import { ensureTopics, type Topics } from '../shared/topics.js';

/** Options of {@link PresenceView}. */
export interface PresenceViewOptions {
  /** The Kafka client to consume with. */
  kafka: Kafka;
  /** The deployment's topics; `presence` is read, and both are created when missing. */
  topics: Topics;
  /** Delay between attempts to start consuming while Kafka is unreachable, in ms. Default 2000. */
  retryDelayMs?: number;
  /** Consumer group id. Default "chat-discovery-presence-<random>" (unique per process). */
  groupId?: string;
  logger?: Logger;
}

/** The latest presence event per user and chat server. */
export class PresenceView {
  /** What has been read so far. */
  readonly table = new PresenceTable();
  readonly #consumer: Consumer;
  readonly #kafka: Kafka;
  readonly #topics: Topics;
  readonly #retryDelayMs: number;
  readonly #log: Logger | undefined;
  #records = 0;
  #ready = false;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #starting: Promise<void> | undefined;

  constructor(options: PresenceViewOptions) {
    this.#kafka = options.kafka;
    this.#topics = options.topics;
    this.#retryDelayMs = options.retryDelayMs ?? 2000;
    this.#log = options.logger?.child({ component: 'presence-view' });
    const groupId = options.groupId ?? `chat-discovery-presence-${randomBytes(6).toString('hex')}`;
    this.#consumer = options.kafka.consumer(fastConsumerConfig(groupId));
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => {
      this.#ready = true;
    });
  }

  /** True once the consumer has joined its group and is reading the topic. */
  get ready(): boolean {
    return this.#ready;
  }

  /** How many records have been applied (for tests and metrics). */
  get records(): number {
    return this.#records;
  }

  /**
   * Creates the topics when missing, subscribes from the beginning and starts consuming, in
   * the background: {@link ready} tells when it has joined. When Kafka is unreachable it logs
   * and keeps trying (discovery itself must not depend on Kafka).
   */
  start(): void {
    this.#starting = this.#open().catch((err: unknown) => this.#retry(err));
  }

  async #open(): Promise<void> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, this.#topics);
    } finally {
      await admin.disconnect();
    }
    if (this.#closed) return;
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic: this.#topics.presence, fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        this.apply(message.key?.toString() ?? '', message.value);
      },
    });
  }

  #retry(err: unknown): void {
    if (this.#closed) return;
    this.#log?.warn({ err }, 'presence consumer could not start; retrying');
    this.#retryTimer = setTimeout(() => {
      this.#starting = this.#open().catch((again: unknown) => this.#retry(again));
    }, this.#retryDelayMs);
  }

  /** Stops consuming; an attempt to start still waiting on Kafka gets at most 2 s to settle. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#starting, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    await this.#consumer.disconnect();
  }

  /** Applies one record (see {@link PresenceTable.apply}). */
  apply(key: string, value: Buffer | Uint8Array | null): void {
    this.#records++;
    this.table.apply(key, value, this.#log);
  }
}

/** Per user, the latest PresenceEvent of each chat server. */
export class PresenceTable {
  readonly #byUser = new Map<string, Map<string, PresenceEvent>>();

  /** Applies one record of the presence topic; a null value (tombstone) forgets the pair. */
  apply(key: string, value: Buffer | Uint8Array | null, log?: Logger): void {
    // Server ids never contain '/', user ids may: split at the last one.
    const slash = key.lastIndexOf('/');
    if (slash <= 0) {
      log?.warn({ key }, 'presence record with a malformed key; skipped');
      return;
    }
    const userId = key.slice(0, slash);
    const serverId = key.slice(slash + 1);
    if (value === null || value.length === 0) {
      const servers = this.#byUser.get(userId);
      servers?.delete(serverId);
      if (servers?.size === 0) this.#byUser.delete(userId);
      return;
    }
    let event: PresenceEvent;
    try {
      event = decodePresenceEvent(value);
    } catch (err) {
      log?.warn({ err, key }, 'presence record that is no PresenceEvent; skipped');
      return;
    }
    let servers = this.#byUser.get(userId);
    if (!servers) {
      servers = new Map();
      this.#byUser.set(userId, servers);
    }
    servers.set(serverId, event);
  }

  /** The presence of one user; `isLive` tells which chat servers are registered now. */
  get(userId: string, isLive: (serverId: string) => boolean): Presence {
    let online = false;
    let lastSeenMs = 0;
    let lastReadMs = 0;
    for (const [serverId, event] of this.#byUser.get(userId) ?? []) {
      const presence = event.presence;
      if (presence?.online && isLive(serverId)) online = true;
      lastSeenMs = Math.max(lastSeenMs, msOf(presence?.lastSeenAt));
      lastReadMs = Math.max(lastReadMs, msOf(presence?.lastReadTimestamp));
    }
    return create(PresenceSchema, {
      userId,
      online,
      lastSeenAt: lastSeenMs > 0 ? timestampFromMs(lastSeenMs) : undefined,
      lastReadTimestamp: lastReadMs > 0 ? timestampFromMs(lastReadMs) : undefined,
    });
  }
}
