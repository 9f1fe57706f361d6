/** What tests share: the servers started by the global setup, and unique names. */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { inject, onTestFinished } from 'vitest';
import { createKafka } from '../../src/shared/kafka.js';
import { ensureTopics, type Topics, uniqueTopics } from '../../src/shared/topics.js';

/** Connection settings of the real ZooKeeper, Kafka and PostgreSQL. */
export function infra() {
  return inject('infra');
}

/** A name no other test uses: prefix + random hex. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** A kafkajs client for the test's own use. */
export function testKafka(clientId = unique('test')): Kafka {
  return createKafka({ brokers: infra().kafkaBrokers, clientId });
}

/** Creates unique topics for one test and deletes them when it finishes. */
export async function testTopics(layout: { messagePartitions?: number } = {}): Promise<Topics> {
  const topics = uniqueTopics(randomBytes(5).toString('hex'));
  const admin = testKafka().admin();
  await admin.connect();
  await ensureTopics(admin, topics, {
    messagePartitions: layout.messagePartitions ?? 3,
    presencePartitions: 1,
  });
  await admin.disconnect();
  onTestFinished(async () => {
    const cleanup = testKafka().admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: [topics.messages, topics.presence] }).catch(() => {});
    await cleanup.disconnect();
  });
  return topics;
}
