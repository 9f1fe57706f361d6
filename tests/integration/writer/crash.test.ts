/**
 * Writers as real processes, killed with SIGKILL mid-stream: the table still holds every
 * message exactly once, and committed offsets never run ahead of what is stored.
 */
import { describe, expect, it } from 'vitest';
import { testTopics, unique } from '../../helpers/infra.js';
import { spawnTs } from '../../helpers/processes.js';
import {
  committedButNotStored,
  makeMessages,
  produce,
  storedCounts,
  testDatabase,
  testProducer,
  uncommittedRecords,
  waitUntil,
  writerEnv,
} from './fixtures.js';

const WRITER = 'src/writer/main.ts';
const TOTAL = 10_000;
const CHUNK = 250;

describe('writer crashes', () => {
  it('SIGKILLed midway and restarted: exactly 10,000 rows, none twice', async () => {
    const topics = await testTopics();
    const db = await testDatabase();
    const groupId = unique('writer');
    const env = writerEnv(topics, groupId);
    const first = spawnTs(WRITER, [], env);
    await first.waitFor('writer ready');
    const producer = await testProducer();
    const { messages, senders } = makeMessages(TOTAL);

    for (let i = 0; i < TOTAL; i += CHUNK) {
      await produce(producer, topics.messages, messages.slice(i, i + CHUNK));
      if (i === TOTAL / 2) {
        // Let it be busy with the stream, then kill it wherever it is.
        await waitUntil(async () => (await storedCounts(db, senders)).rows > 0);
        first.kill('SIGKILL');
        await first.exited;
        expect(await committedButNotStored(db, groupId, topics.messages, senders)).toEqual([]);
      }
    }
    const stored = (await storedCounts(db, senders)).rows;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(TOTAL);

    const second = spawnTs(WRITER, [], env);
    await second.waitFor('writer ready');
    await waitUntil(
      async () => (await uncommittedRecords(groupId, topics.messages)) === 0,
      30000,
      () => storedCounts(db, senders),
    );
    expect(await storedCounts(db, senders)).toEqual({ rows: TOTAL, ids: TOTAL });
    expect(await committedButNotStored(db, groupId, topics.messages, senders)).toEqual([]);

    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('two writers share the group; one is SIGKILLed mid-stream and the other takes over: exactly once', async () => {
    const topics = await testTopics({ messagePartitions: 4 });
    const db = await testDatabase();
    const groupId = unique('writer');
    const env = writerEnv(topics, groupId);
    const a = spawnTs(WRITER, [], env);
    const b = spawnTs(WRITER, [], env);
    await Promise.all([a.waitFor('writer ready'), b.waitFor('writer ready')]);
    const producer = await testProducer();
    const { messages, senders } = makeMessages(TOTAL);

    for (let i = 0; i < TOTAL; i += CHUNK) {
      await produce(producer, topics.messages, messages.slice(i, i + CHUNK));
      if (i === TOTAL / 2) {
        a.kill('SIGKILL');
        await a.exited;
      }
    }
    // b inherits a's partitions once a's session times out, from a's last committed offsets.
    await waitUntil(
      async () => (await uncommittedRecords(groupId, topics.messages)) === 0,
      40000,
      () => storedCounts(db, senders),
    );
    expect(await storedCounts(db, senders)).toEqual({ rows: TOTAL, ids: TOTAL });
    expect(await committedButNotStored(db, groupId, topics.messages, senders)).toEqual([]);
    b.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  });
});
