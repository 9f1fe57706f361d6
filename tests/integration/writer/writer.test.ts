/** The writer against real Kafka and PostgreSQL, in-process: what gets stored, and how often. */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PresenceEventSchema } from '../../../gen/chat/v1/presence_pb.js';
import { chatMessageRecord, newChatMessage, presenceRecord } from '../../../src/shared/codec.js';
import { newMessageId } from '../../../src/shared/ids.js';
import { createWriter, type WriterOptions } from '../../../src/writer/index.js';
import { infra, testTopics, unique } from '../../helpers/infra.js';
import {
  makeMessages,
  produce,
  storedCounts,
  testDatabase,
  testProducer,
  uncommittedRecords,
  waitUntil,
} from './fixtures.js';

async function startWriter(options: Partial<WriterOptions> & Pick<WriterOptions, 'topics'>) {
  const writer = createWriter({
    kafkaBrokers: infra().kafkaBrokers,
    databaseUrl: infra().databaseUrl,
    groupId: unique('writer'),
    opsPort: 0,
    ...options,
  });
  onTestFinished(() => writer.stop());
  await writer.start();
  return writer;
}

describe('writer', () => {
  it('stores every message once, commits past them, and serves /healthz and /metrics', async () => {
    const topics = await testTopics();
    const db = await testDatabase();
    const groupId = unique('writer');
    const writer = await startWriter({ topics, groupId });
    const producer = await testProducer();
    const { messages, senders } = makeMessages(2000);
    await produce(producer, topics.messages, messages);
    await waitUntil(async () => (await storedCounts(db, senders)).rows >= 2000);
    await waitUntil(async () => (await uncommittedRecords(groupId, topics.messages)) === 0);
    expect(await storedCounts(db, senders)).toEqual({ rows: 2000, ids: 2000 });

    const first = messages[0]!;
    const row = await db
      .selectFrom('messages')
      .selectAll()
      .where('message_id', '=', first.messageId)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      client_message_id: 'c0',
      sender_id: first.senderId,
      recipient_id: first.recipientId,
      body: Buffer.from('message 0 ✓ \u0000', 'utf8'),
    });
    expect(row.sent_at.getTime()).toBe(Number(first.sentAt!.seconds) * 1000 + first.sentAt!.nanos / 1e6);

    const health = await fetch(`${writer.opsUrl}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${writer.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/chat_writer_rows_written_total\{table="messages",service="writer"\} 2000/);
    expect(metrics).toContain('chat_writer_insert_seconds_bucket');
    expect(metrics).toContain('chat_writer_batch_records_bucket');
    expect(metrics).toContain('chat_writer_consumer_lag');
  });

  it('stores a producer retry (same sender and client_message_id, new message_id) once', async () => {
    const topics = await testTopics();
    const db = await testDatabase();
    const groupId = unique('writer');
    await startWriter({ topics, groupId });
    const producer = await testProducer();
    const sender = unique('retry');
    const attempt = (i: number) =>
      newChatMessage({
        messageId: newMessageId(),
        clientMessageId: 'same',
        senderId: sender,
        recipientId: 'bob',
        body: `attempt ${i}`,
        sentAtMs: Date.now(),
      });
    // Same batch (three copies) and a later batch: one row either way.
    await produce(producer, topics.messages, [attempt(1), attempt(2), attempt(3)]);
    await produce(producer, topics.messages, [attempt(4)]);
    // Committed offsets at the end of the topic = everything stored.
    await waitUntil(async () => (await uncommittedRecords(groupId, topics.messages)) === 0);
    expect(await storedCounts(db, [sender])).toEqual({ rows: 1, ids: 1 });
  });

  it('moves undecodable and invalid records to dead_letters and stores the rest', async () => {
    const topics = await testTopics({ messagePartitions: 1 });
    const db = await testDatabase();
    await startWriter({ topics });
    const producer = await testProducer();
    const good = makeMessages(10, 2);
    const poison = Buffer.from([0xff, 0xff, 0xff, 0x01]);
    const noSender = newChatMessage({
      messageId: newMessageId(),
      clientMessageId: 'x',
      senderId: '',
      recipientId: 'bob',
      body: 'no sender',
      sentAtMs: Date.now(),
    });
    await producer.send({
      topic: topics.messages,
      acks: -1,
      messages: [
        ...good.messages.slice(0, 5).map(chatMessageRecord),
        { key: 'poison', value: poison },
        chatMessageRecord(noSender),
        ...good.messages.slice(5).map(chatMessageRecord),
      ],
    });
    await waitUntil(async () => (await storedCounts(db, good.senders)).rows === 10);
    const dead = await db
      .selectFrom('dead_letters')
      .selectAll()
      .where('topic', '=', topics.messages)
      .orderBy('kafka_offset')
      .execute();
    expect(dead.map((d) => [Number(d.kafka_offset), d.record_key?.toString()])).toEqual([
      [5, 'poison'],
      [6, expect.any(String)],
    ]);
    expect(dead[0]!.record_value).toEqual(poison);
    expect(dead[0]!.error).toMatch(/not a ChatMessage/);
    expect(dead[1]!.error).toMatch(/sender_id is empty/);
  });

  it('moves read_state forward only', async () => {
    const topics = await testTopics();
    const db = await testDatabase();
    await startWriter({ topics });
    const producer = await testProducer();
    const user = unique('reader');
    const other = unique('reader');
    const event = (userId: string, ms: number | undefined, serverId = 's1') =>
      presenceRecord(
        create(PresenceEventSchema, {
          serverId,
          sessions: 1,
          presence: {
            userId,
            online: true,
            ...(ms === undefined ? {} : { lastReadTimestamp: timestampFromMs(ms) }),
          },
        }),
      );
    const t = Date.UTC(2026, 0, 1);
    // Within one batch: newest wins whatever the order; no cursor = ignored.
    await producer.send({
      topic: topics.presence,
      acks: -1,
      messages: [event(user, t + 5000), event(user, t + 1000, 's2'), event(user, undefined), event(other, t)],
    });
    const readAt = async (id: string) =>
      (
        await db.selectFrom('read_state').select('last_read_at').where('user_id', '=', id).executeTakeFirst()
      )?.last_read_at.getTime();
    await waitUntil(async () => (await readAt(user)) === t + 5000 && (await readAt(other)) === t);
    // A later, older cursor (another server, a stale session) does not move it back.
    await producer.send({
      topic: topics.presence,
      acks: -1,
      messages: [event(user, t + 2000, 's3'), event(other, t + 7000)],
    });
    await waitUntil(async () => (await readAt(other)) === t + 7000);
    expect(await readAt(user)).toBe(t + 5000);
    await producer.send({ topic: topics.presence, acks: -1, messages: [event(user, t + 9000)] });
    await waitUntil(async () => (await readAt(user)) === t + 9000);
  });

  it('refuses to start when synchronous_commit is off', async () => {
    const topics = await testTopics();
    const url = new URL(infra().databaseUrl);
    url.searchParams.set('options', '-c synchronous_commit=off');
    const writer = createWriter({ kafkaBrokers: infra().kafkaBrokers, databaseUrl: url.toString(), topics });
    onTestFinished(() => writer.stop());
    await expect(writer.start()).rejects.toThrow(/synchronous_commit is off/);
  });

  it('can be stopped while it starts, closing what it opened', async () => {
    const topics = await testTopics();
    const writer = createWriter({
      kafkaBrokers: infra().kafkaBrokers,
      databaseUrl: infra().databaseUrl,
      topics,
    });
    const starting = writer.start();
    await writer.stop();
    await expect(starting).rejects.toThrow(/stopped while starting/);
  });

  it('rejects invalid options naming the field', () => {
    expect(() => createWriter({ kafkaBrokers: [], databaseUrl: infra().databaseUrl })).toThrow(
      /kafkaBrokers/,
    );
    expect(() => createWriter({ kafkaBrokers: ['x:1'], databaseUrl: 'mysql://x' })).toThrow(/databaseUrl/);
    expect(() =>
      createWriter({ kafkaBrokers: ['x:1'], databaseUrl: infra().databaseUrl, concurrency: 0 }),
    ).toThrow(/concurrency/);
  });
});
