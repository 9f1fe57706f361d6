/**
 * PostgreSQL unavailable for 10 s mid-stream, simulated by cutting a TCP proxy in front of the
 * shared server: nothing is committed past what is stored, nothing is lost or doubled, and the
 * same writer carries on by itself once the database is back.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createWriter } from '../../../src/writer/index.js';
import { infra, testTopics, unique } from '../../helpers/infra.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';
import {
  committedButNotStored,
  makeMessages,
  produce,
  storedCounts,
  testDatabase,
  testProducer,
  uncommittedRecords,
  waitUntil,
} from './fixtures.js';

describe('writer with PostgreSQL unavailable', () => {
  it('holds offsets during a 10 s outage and recovers without a restart', async () => {
    const topics = await testTopics();
    const db = await testDatabase();
    const target = new URL(infra().databaseUrl);
    const proxy = await startTcpProxy({
      targetHost: target.hostname,
      targetPort: Number(target.port || 5432),
    });
    const viaProxy = new URL(infra().databaseUrl);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const groupId = unique('writer');
    const writer = createWriter({
      kafkaBrokers: infra().kafkaBrokers,
      databaseUrl: viaProxy.toString(),
      topics,
      groupId,
      opsPort: 0,
      retryMaxMs: 1000,
      healthCheckIntervalMs: 500,
    });
    onTestFinished(() => writer.stop());
    await writer.start();
    const producer = await testProducer();
    const { messages, senders } = makeMessages(6000);
    const health = async () => (await fetch(`${writer.opsUrl}/healthz`)).status;

    await produce(producer, topics.messages, messages.slice(0, 2000));
    await waitUntil(async () => (await storedCounts(db, senders)).rows === 2000);

    proxy.cut();
    const outageEnds = Date.now() + 10_000;
    await produce(producer, topics.messages, messages.slice(2000, 4000), 250);
    await waitUntil(async () => (await health()) === 503, 5000);
    // While the database is away: no rows, and no offset committed past a stored row.
    while (Date.now() < outageEnds) {
      expect(await committedButNotStored(db, groupId, topics.messages, senders)).toEqual([]);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect((await storedCounts(db, senders)).rows).toBe(2000);
    expect(await uncommittedRecords(groupId, topics.messages)).toBe(2000);

    proxy.restore();
    await produce(producer, topics.messages, messages.slice(4000));
    await waitUntil(
      async () => (await uncommittedRecords(groupId, topics.messages)) === 0,
      20000,
      () => storedCounts(db, senders),
    );
    expect(await storedCounts(db, senders)).toEqual({ rows: 6000, ids: 6000 });
    expect(await committedButNotStored(db, groupId, topics.messages, senders)).toEqual([]);
    await waitUntil(async () => (await health()) === 200, 5000);
    const metrics = await (await fetch(`${writer.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/chat_writer_database_errors_total\{service="writer"\} [1-9]/);
  });
});
