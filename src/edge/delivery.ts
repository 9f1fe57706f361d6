/**
 * Live delivery (the seed design): this chat server consumes chat.messages with its own
 * consumer group, so it sees every message, and hands each to the local sessions of its
 * recipient and sender. A record for nobody here is skipped from its headers, undecoded.
 *
 * The consumer starts exactly at the topic's end offsets read at start-up (seeked before its
 * first fetch; its group is new, unique per start). `positions[p]` is the next offset to process. Records are
 * handled synchronously, one after another with no await in between, so a snapshot of
 * `positions` taken together with registering a session (see {@link Delivery.register}) splits
 * the stream exactly: records below the snapshot are for the database, records at or above it
 * reach the session live. Catch-up (catch-up.ts) relies on this.
 */
import type { Admin, Consumer, Kafka } from 'kafkajs';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { decodeChatMessage, HEADER_RECIPIENT, HEADER_SENDER, headerString, msOf } from '../shared/codec.js';
import { ChatBackendError } from '../shared/errors.js';
import { fastConsumerConfig } from '../shared/kafka.js';
import type { Logger } from '../shared/logger.js';
import { topicEnds } from '../shared/topics.js';
import { messageFrameFromEncoded } from './frames.js';
import type { EdgeMetrics } from './metrics.js';
import type { Offsets } from './writer-watermark.js';

/** What delivery needs of a session. */
export interface Recipient {
  readonly userId: string;
  /** Called synchronously for each live record addressed to or sent by the user. */
  receive(record: LiveRecord): void;
}

/** One decoded record, shared by every session it is handed to. */
export interface LiveRecord {
  message: ChatMessage;
  partition: number;
  offset: number;
  /** The encoded ServerFrame, built once on first use. */
  frame(): Uint8Array;
}

/** Options of {@link createDelivery}. */
export interface DeliveryOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  /** This server's consumer group (unique per server start). */
  groupId: string;
  metrics?: EdgeMetrics;
  logger?: Logger;
  /** How long start() waits for the consumer to join its group, in ms. Default 30000. */
  joinTimeoutMs?: number;
}

/** The consumer plus the index of local sessions. */
export interface Delivery {
  start(): Promise<void>;
  /**
   * Registers a session for live records and returns, in the same synchronous step, the
   * positions snapshot: every record at or above it will be handed to the session.
   */
  register(session: Recipient): Offsets;
  /** Takes a new snapshot without re-registering (catch-up after its buffer overflowed). */
  snapshot(): Offsets;
  unregister(session: Recipient): void;
  /** Current positions (next offset to process), for pruning. */
  position(partition: number): number;
  /** True while the consumer is a member of its group. */
  readonly joined: boolean;
  stop(): Promise<void>;
}

/** Creates the delivery consumer (nothing connects before start()). */
export function createDelivery(options: DeliveryOptions): Delivery {
  const { kafka, admin, topic, groupId, metrics } = options;
  const log = options.logger?.child({ component: 'delivery' });
  const sessions = new Map<string, Set<Recipient>>();
  const positions = new Map<number, number>();
  let consumer: Consumer | undefined;
  let joined = false;

  function route(
    value: Buffer | null,
    headers: Parameters<typeof headerString>[0],
    partition: number,
    offset: number,
  ) {
    let sender = headerString(headers, HEADER_SENDER);
    let recipient = headerString(headers, HEADER_RECIPIENT);
    const hasHeaders = sender !== '' || recipient !== '';
    if (hasHeaders && !sessions.has(recipient) && !sessions.has(sender)) return;
    if (!value) return;
    let message: ChatMessage;
    try {
      message = decodeChatMessage(value);
    } catch (err) {
      log?.warn({ err, partition, offset }, 'skipping a record that is not a ChatMessage');
      return;
    }
    sender = message.senderId;
    recipient = message.recipientId;
    const to = sessions.get(recipient);
    const from = sender === recipient ? undefined : sessions.get(sender);
    if (!to && !from) return;
    let frame: Uint8Array | undefined;
    const record: LiveRecord = {
      message,
      partition,
      offset,
      frame: () => {
        frame ??= messageFrameFromEncoded(value);
        return frame;
      },
    };
    if (to) for (const s of to) s.receive(record);
    if (from) for (const s of from) s.receive(record);
    metrics?.deliverSeconds.observe(Math.max(0, Date.now() - msOf(message.sentAt)) / 1000);
  }

  const snapshot = (): Offsets => new Map(positions);

  return {
    get joined() {
      return joined;
    },
    position: (partition) => positions.get(partition) ?? 0,
    register(session) {
      let set = sessions.get(session.userId);
      if (!set) {
        set = new Set();
        sessions.set(session.userId, set);
      }
      set.add(session);
      return snapshot();
    },
    snapshot,
    unregister(session) {
      const set = sessions.get(session.userId);
      if (!set) return;
      set.delete(session);
      if (set.size === 0) sessions.delete(session.userId);
    },
    async start() {
      const ends = await topicEnds(admin, topic);
      for (const p of ends) positions.set(p.partition, p.high);
      const c = kafka.consumer(fastConsumerConfig(groupId));
      consumer = c;
      let joinTimer: NodeJS.Timeout | undefined;
      const joinedOnce = new Promise<void>((resolve, reject) => {
        joinTimer = setTimeout(
          () =>
            reject(
              new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'the delivery consumer did not join its group'),
            ),
          options.joinTimeoutMs ?? 30000,
        );
        c.on(c.events.GROUP_JOIN, () => {
          joined = true;
          clearTimeout(joinTimer);
          // After a rejoin (or a kafkajs restart, whose new member would otherwise start from
          // the last commit or, with none yet, from the end), resume exactly where we are.
          for (const [partition, offset] of positions) {
            try {
              c.seek({ topic, partition, offset: String(offset) });
            } catch (err) {
              log?.warn({ err, partition }, 'seeking the delivery consumer failed');
            }
          }
          resolve();
        });
      });
      // start() may fail before awaiting it; never leave a rejection unhandled.
      joinedOnce.catch(() => {});
      c.on(c.events.CRASH, (e) => {
        joined = false;
        log?.error({ err: e.payload.error }, 'delivery consumer crashed; kafkajs restarts it');
      });
      c.on(c.events.STOP, () => {
        joined = false;
      });
      await c.connect();
      await c.subscribe({ topics: [topic], fromBeginning: false });
      const running = c.run({
        // kafkajs' autoCommit commits after EVERY batch (an OffsetCommit round trip each, ~6 ms
        // on a 2-core machine), and the next fetch waits for it: with 6 busy partitions that
        // put ~36 ms between fetches and into every delivery. Positions, not commits, decide
        // where this consumer resumes, so commit only every 5 s (for lag tooling).
        autoCommit: false,
        autoCommitInterval: 5000,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch, commitOffsetsIfNecessary }) => {
          const partition = batch.partition;
          // Synchronous from here to the end of the loop: see the module comment.
          for (const m of batch.messages) {
            const offset = Number(m.offset);
            // After a consumer restart kafkajs resumes from the last commit; never hand a
            // record to sessions twice.
            if (offset < (positions.get(partition) ?? 0)) continue;
            positions.set(partition, offset + 1);
            route(m.value, m.headers, partition, offset);
          }
          metrics?.consumerLag.set(
            { partition: String(partition) },
            Math.max(0, Number(batch.highWatermark) - (positions.get(partition) ?? 0)),
          );
          await commitOffsetsIfNecessary().catch((err) =>
            log?.debug({ err }, 'committing delivery offsets failed (only lag tooling reads them)'),
          );
        },
      });
      // run() creates the group member synchronously; seeks queued now apply to the first
      // fetch, so consumption starts exactly at the end offsets read above. (kafkajs'
      // admin.setOffsets does the same with a throwaway consumer but costs a 5 s fetch wait.)
      for (const p of ends) c.seek({ topic, partition: p.partition, offset: String(p.high) });
      try {
        await running;
        await joinedOnce;
      } finally {
        clearTimeout(joinTimer);
      }
    },
    async stop() {
      joined = false;
      await consumer?.disconnect().catch(() => {});
    },
  };
}
