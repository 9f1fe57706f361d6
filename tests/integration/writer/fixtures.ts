/** What the writer tests share: generating and producing messages, reading back what was stored. */
import type { Kysely } from 'kysely';
import { onTestFinished } from 'vitest';
import type { ChatMessage } from '../../../gen/chat/v1/message_pb.js';
import { chatMessageRecord, newChatMessage } from '../../../src/shared/codec.js';
import { openDatabase } from '../../../src/shared/db/database.js';
import type { Database } from '../../../src/shared/db/schema.js';
import { newMessageId } from '../../../src/shared/ids.js';
import { type Topics, topicEnds } from '../../../src/shared/topics.js';
import { infra, testKafka, unique } from '../../helpers/infra.js';

/** `count` messages among a few unique users (so rows are counted by sender). */
export function makeMessages(count: number, users = 8): { messages: ChatMessage[]; senders: string[] } {
  const senders = Array.from({ length: users }, () => unique('w'));
  const now = Date.now();
  const messages = Array.from({ length: count }, (_, i) =>
    newChatMessage({
      messageId: newMessageId(now + i),
      clientMessageId: `c${i}`,
      senderId: senders[i % users] as string,
      recipientId: senders[(i + 1) % users] as string,
      body: `message ${i} ✓ \u0000`,
      sentAtMs: now + i,
    }),
  );
  return { messages, senders };
}

/** A connected producer, disconnected when the test finishes. */
export async function testProducer() {
  const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  onTestFinished(() => producer.disconnect());
  return producer;
}

/** Produces messages to the topic in chunks (one broker round trip per chunk). */
export async function produce(
  producer: Awaited<ReturnType<typeof testProducer>>,
  topic: string,
  messages: readonly ChatMessage[],
  chunk = 1000,
): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk).map(chatMessageRecord) });
  }
}

/** The test's own database handle (no migrations: the writer runs them), closed at the end. */
export async function testDatabase(): Promise<Kysely<Database>> {
  const database = await openDatabase({ url: infra().databaseUrl, maxConnections: 2 });
  onTestFinished(() => database.close());
  return database.db;
}

/** Rows stored for messages sent by these users: total and distinct message ids. */
export async function storedCounts(db: Kysely<Database>, senders: readonly string[]) {
  const row = await db
    .selectFrom('messages')
    .select((eb) => [
      eb.fn.countAll<string>().as('rows'),
      eb.fn.count<string>('message_id').distinct().as('ids'),
    ])
    .where('sender_id', 'in', senders)
    .executeTakeFirstOrThrow();
  return { rows: Number(row.rows), ids: Number(row.ids) };
}

/** Polls until check() returns true; throws with the last description after timeoutMs. */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20000,
  describe: () => unknown = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(await describe())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Committed offsets of a group on a topic minus the topic's end offsets, per partition (0 = caught up). */
export async function uncommittedRecords(groupId: string, topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await topicEnds(admin, topic);
    let behind = 0;
    for (const end of ends) {
      const c = committed?.partitions.find((p) => p.partition === end.partition);
      const at = c && Number(c.offset) >= 0 ? Number(c.offset) : 0;
      behind += end.high - at;
    }
    return behind;
  } finally {
    await admin.disconnect();
  }
}

/** Topics for a writer test and the env a writer child process needs to use them. */
export function writerEnv(
  topics: Topics,
  groupId: string,
  databaseUrl = infra().databaseUrl,
): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: infra().kafkaBrokers.join(','),
    DATABASE_URL: databaseUrl,
    WRITER_GROUP_ID: groupId,
    CHAT_TOPIC_MESSAGES: topics.messages,
    CHAT_TOPIC_PRESENCE: topics.presence,
    WRITER_OPS_PORT: '0',
    LOG_LEVEL: 'warn',
  };
}

/**
 * The contract chat servers rely on: for every partition, the group's committed offset N means
 * the records 0..N-1 are all stored. Returns the partitions where that does not hold (the test
 * topic holds only valid, distinct messages from `senders`, so "stored" = a row with that offset).
 */
export async function committedButNotStored(
  db: Kysely<Database>,
  groupId: string,
  topic: string,
  senders: readonly string[],
): Promise<{ partition: number; committed: number; stored: number }[]> {
  const admin = testKafka().admin();
  await admin.connect();
  let committed: { partition: number; offset: string }[];
  try {
    committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
  } finally {
    await admin.disconnect();
  }
  const wrong: { partition: number; committed: number; stored: number }[] = [];
  for (const { partition, offset } of committed) {
    const n = Number(offset);
    if (n <= 0) continue;
    const row = await db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('sender_id', 'in', senders)
      .where('kafka_partition', '=', partition)
      .where('kafka_offset', '<', String(n))
      .executeTakeFirstOrThrow();
    if (Number(row.n) !== n) wrong.push({ partition, committed: n, stored: Number(row.n) });
  }
  return wrong;
}
