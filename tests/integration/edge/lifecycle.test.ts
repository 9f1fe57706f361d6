/**
 * Connection lifecycle against the real infrastructure: heartbeat timeout, stalled readers,
 * presence events on the presence topic, the optional send-path INSERT, and the delivery
 * consumer's exact start position.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { PresenceEvent } from '../../../gen/chat/v1/presence_pb.js';
import { createDelivery, type LiveRecord } from '../../../src/edge/delivery.js';
import { chatMessageRecord, decodePresenceEvent, msOf, newChatMessage } from '../../../src/shared/codec.js';
import { openDatabase } from '../../../src/shared/db/database.js';
import { newMessageId } from '../../../src/shared/ids.js';
import { fastConsumerConfig } from '../../../src/shared/kafka.js';
import { topicEnds } from '../../../src/shared/topics.js';
import { startEdges } from '../../helpers/edge-system.js';
import { infra, testKafka, testTopics, unique } from '../../helpers/infra.js';
import { connectWs } from '../../helpers/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('chat server lifecycle', () => {
  it('closes a silent socket with 4000 after 3 heartbeat intervals; a heartbeating one stays', async () => {
    const sys = await startEdges({
      writer: false,
      edge: { heartbeatIntervalMs: 200, firstHeartbeatWaitMs: 50 },
    });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const silent = await connectWs(edge.wsUrl, { token: await sys.token(unique('silent')) });
    const alive = await connectWs(edge.wsUrl, { token: await sys.token(unique('alive')), heartbeat: {} });
    const timer = setInterval(() => alive.heartbeat(), 150);
    onTestFinished(() => clearInterval(timer));
    const started = Date.now();
    expect((await silent.closed).code).toBe(4000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await sleep(300);
    expect(alive.ws.readyState).toBe(alive.ws.OPEN);
    expect(alive.frames.filter((f) => f.frame.case === 'heartbeatAck').length).toBeGreaterThan(3);
  });

  it('closes a stalled reader (unsent bytes over the bound) and keeps serving others', async () => {
    const sys = await startEdges({
      edges: 2,
      edge: {
        maxBufferedBytes: 64 * 1024,
        sendRatePerSecond: 10000,
        sendBurst: 10000,
        heartbeatIntervalMs: 5000,
      },
    });
    const [a, b] = sys.edges as [(typeof sys.edges)[0], (typeof sys.edges)[0]];
    const alice = unique('alice');
    const bob = unique('bob');
    const carol = unique('carol');
    const ca = await connectWs(a.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    const cb = await connectWs(b.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    const cc = await connectWs(b.wsUrl, { token: await sys.token(carol), heartbeat: {} });
    await cb.next('catchUpDone');
    await cc.next('catchUpDone');
    // bob stops reading: the kernel buffers fill, then the server's send buffer grows.
    (cb.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const body = 'x'.repeat(60 * 1024);
    let i = 0;
    while (b.connections === 2 && i < 2000) {
      for (let k = 0; k < 20; k++, i++) ca.sendMessage(bob, body, `big${i}`);
      await sleep(20);
    }
    expect(b.connections).toBe(1);
    const closes = await b.metrics.getSingleMetricAsString('chat_edge_closes_total');
    expect(closes).toMatch(/code="1013"[^\n]* 1/);
    ca.sendMessage(carol, 'still here', 'c1');
    await cc.until(() => cc.messages().some((m) => m.body === 'still here'));
  });

  it('publishes presence: online on connect (with last_read from heartbeats), offline when the last session closes', async () => {
    const sys = await startEdges({ writer: false, edge: { presenceFlushMs: 50 } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const events: PresenceEvent[] = [];
    const consumer = testKafka().consumer(fastConsumerConfig(unique('presence-test')));
    onTestFinished(() => consumer.disconnect());
    await consumer.connect();
    await consumer.subscribe({ topics: [sys.topics.presence], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        events.push(decodePresenceEvent(message.value!));
      },
    });
    const bob = unique('bob');
    const waitFor = async (pred: (e: PresenceEvent) => boolean) => {
      const deadline = Date.now() + 15000;
      while (!events.some(pred)) {
        if (Date.now() > deadline) throw new Error(`no such presence event; got ${events.length}`);
        await sleep(20);
      }
    };
    const phone = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    const laptop = await connectWs(edge.wsUrl, { token: await sys.token(bob), heartbeat: {} });
    await waitFor((e) => e.presence?.userId === bob && e.presence.online);
    const read = Date.now() - 5000;
    phone.send({ frame: { case: 'heartbeat', value: { lastReadTimestamp: timestampFromMs(read) } } });
    await waitFor((e) => e.presence?.userId === bob && msOf(e.presence.lastReadTimestamp) === read);
    await phone.close();
    await sleep(200);
    expect(events.filter((e) => e.presence?.userId === bob && !e.presence.online)).toHaveLength(0);
    await laptop.close();
    await waitFor((e) => e.presence?.userId === bob && !e.presence.online);
    const last = events.filter((e) => e.presence?.userId === bob).at(-1)!;
    expect(last).toMatchObject({ serverId: edge.id, sessions: 0 });
    expect(msOf(last.presence?.lastReadTimestamp)).toBe(read);
  });

  it('with sendPathInsert the row is in PostgreSQL when the SendAck arrives (no writer running)', async () => {
    const sys = await startEdges({ writer: false, edge: { sendPathInsert: true } });
    const [edge] = sys.edges as [(typeof sys.edges)[0]];
    const alice = unique('alice');
    const ca = await connectWs(edge.wsUrl, { token: await sys.token(alice), heartbeat: {} });
    ca.sendMessage(unique('bob'), 'stored first', 'p1');
    const ack = await ca.next('sendAck');
    const { db, close } = await openDatabase({ url: infra().databaseUrl, migrate: false });
    onTestFinished(close);
    const rows = await sql<{ body: Buffer; sender_id: string }>`
      select body, sender_id from messages where message_id = ${ack.messageId}`.execute(db);
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]!.body.toString('utf8')).toBe('stored first');
    expect(rows.rows[0]!.sender_id).toBe(alice);
  });

  it('the delivery consumer starts exactly at the end offsets read at start: no older record, no gap after', async () => {
    const topics = await testTopics({ messagePartitions: 2 });
    const kafka = testKafka();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    const bob = unique('bob');
    const send = (n: number) =>
      producer.send({
        topic: topics.messages,
        acks: -1,
        messages: Array.from({ length: n }, (_, i) =>
          chatMessageRecord(
            newChatMessage({
              messageId: newMessageId(),
              clientMessageId: `c${i}`,
              senderId: unique('s'),
              recipientId: bob,
              body: 'x',
              sentAtMs: Date.now(),
            }),
          ),
        ),
      });
    await send(20);
    const got: LiveRecord[] = [];
    const delivery = createDelivery({ kafka, admin, topic: topics.messages, groupId: unique('edge-group') });
    onTestFinished(async () => {
      await delivery.stop();
      await producer.disconnect();
      await admin.disconnect();
    });
    const snapshot = delivery.register({ userId: bob, receive: (r) => got.push(r) });
    expect([...snapshot.values()]).toEqual([]);
    // Records keep arriving while the consumer starts.
    let producing = true;
    const during = (async () => {
      while (producing) await send(3);
    })();
    await delivery.start();
    await sleep(300);
    producing = false;
    await during;
    await send(5);
    const ends = new Map((await topicEnds(admin, topics.messages)).map((p) => [p.partition, p.high]));
    await (async () => {
      const deadline = Date.now() + 10000;
      while ([...ends].some(([p, end]) => delivery.position(p) < end) && Date.now() < deadline)
        await sleep(20);
    })();
    for (const [p, end] of ends) {
      const offsets = got.filter((r) => r.partition === p).map((r) => r.offset);
      const first = offsets[0]!;
      // Contiguous from where it started to the end: nothing skipped, nothing twice.
      expect(offsets).toEqual(Array.from({ length: end - first }, (_, i) => first + i));
    }
    // The 20 records from before start() were not delivered.
    expect(got.length).toBeLessThan([...ends.values()].reduce((s, x) => s + x, 0) - 19);
  });
});
