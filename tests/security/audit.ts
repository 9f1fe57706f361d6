/**
 * What the bad-input tests check after the abuse: a bystander that kept chatting saw no change,
 * the chat server is alive with bounded memory, and nothing malformed reached Kafka or
 * PostgreSQL (every record decodes, every id passes the input rules, every sender is the
 * token's user).
 */
import { expect } from 'vitest';
import type { ChatMessage } from '../../gen/chat/v1/message_pb.js';
import { decodeChatMessage } from '../../src/shared/codec.js';
import { createKafka } from '../../src/shared/kafka.js';
import { checkUserId, DEFAULT_MAX_BODY_BYTES, utf8Length } from '../../src/shared/limits.js';
import { topicEnds } from '../../src/shared/topics.js';
import { checkHistory, HistoryRecorder } from '../helpers/checker.js';
import { type Cluster, type ClusterProcess, eventually } from '../helpers/cluster.js';

/** A pair of well-behaved users chatting on the same server while the abuse runs. */
export interface Bystander {
  /** Stops chatting and asserts every message arrived once, in order, and was stored. */
  verify(): Promise<void>;
}

/** Starts carol -> bob, one message every `pauseMs` (default 50). */
export async function startBystander(cluster: Cluster, pauseMs = 50): Promise<Bystander> {
  const recorder = new HistoryRecorder();
  const bob = cluster.client(cluster.user('bystander-bob'));
  const carol = cluster.client(cluster.user('bystander-carol'));
  recorder.watch(bob);
  recorder.watch(carol);
  await Promise.all([bob.connect(), carol.connect()]);
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await recorder.send(carol, bob.userId, `bystander ${i}`);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    async verify() {
      running = false;
      await loop;
      const users = recorder.users();
      await eventually(
        async () =>
          recorder.undelivered() === 0 && (await cluster.stored(users)).length >= recorder.sends.length,
        20_000,
      ).catch(() => {});
      const report = checkHistory(recorder.history(await cluster.stored(users)), { strictOrder: true });
      expect(report.ok, report.summary()).toBe(true);
      expect(report.counts.failed, 'bystander sends failed').toBe(0);
      expect(report.counts.acked).toBeGreaterThan(5);
    },
  };
}

/** Resident memory of a service process, in bytes (from its /metrics). */
export async function rss(proc: ClusterProcess): Promise<number> {
  return (await proc.metric('process_resident_memory_bytes')) ?? Number.NaN;
}

/** Every record of the cluster's messages topic, decoded (throws if one does not decode). */
export async function readTopic(cluster: Cluster): Promise<ChatMessage[]> {
  const kafka = createKafka({ brokers: cluster.kafkaBrokers, clientId: `audit-${cluster.tag}` });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await topicEnds(admin, cluster.topics.messages);
  await admin.disconnect();
  const total = ends.reduce((n, p) => n + p.high, 0);
  const messages: ChatMessage[] = [];
  const undecodable: string[] = [];
  if (total === 0) return messages;
  const consumer = kafka.consumer({ groupId: `audit-${cluster.tag}-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: cluster.topics.messages, fromBeginning: true });
  let seen = 0;
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      seen++;
      try {
        messages.push(decodeChatMessage(message.value ?? new Uint8Array()));
      } catch (err) {
        undecodable.push(`${partition}/${message.offset}: ${(err as Error).message}`);
      }
    },
  });
  try {
    await eventually(
      () => seen >= total,
      30_000,
      () => ({ seen, total }),
    );
  } finally {
    await consumer.disconnect();
  }
  expect(undecodable, 'undecodable records on the topic').toEqual([]);
  return messages;
}

/** Asserts a message is well formed: valid ids, a sender among `senders`, a body within the limit. */
export function expectWellFormed(m: ChatMessage, senders: ReadonlySet<string>): void {
  const where = `message ${m.messageId}`;
  expect(senders.has(m.senderId), `${where}: sender ${JSON.stringify(m.senderId)}`).toBe(true);
  expect(() => checkUserId(m.recipientId, 'recipient'), where).not.toThrow();
  expect(() => checkUserId(m.clientMessageId, 'client_message_id'), where).not.toThrow();
  expect(m.messageId, where).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  expect(utf8Length(m.body), where).toBeLessThanOrEqual(DEFAULT_MAX_BODY_BYTES);
}
