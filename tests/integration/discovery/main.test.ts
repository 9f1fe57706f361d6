/** The discovery process as started from the command line: env validation, serving, SIGTERM. */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Health, HealthCheckResponse_ServingStatus } from '../../../gen/grpc/health/v1/health_pb.js';
import { infra, testKafka, unique } from '../../helpers/infra.js';
import { spawnTs } from '../../helpers/processes.js';

describe('discovery main.ts', () => {
  it('refuses a bad variable with a one-line error naming it and exit code 2', async () => {
    const proc = spawnTs('src/discovery/main.ts', [], { DISCOVERY_PORT: 'not-a-port' });
    let stderr = '';
    proc.child.stderr!.on('data', (d) => {
      stderr += String(d);
    });
    expect(await proc.exited).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      'discovery: DISCOVERY_PORT: expected an integer, got "not-a-port"',
    ]);
  });

  it('serves on the configured port and stops cleanly on SIGTERM', async () => {
    const suffix = unique('main');
    const topics = {
      CHAT_TOPIC_MESSAGES: `chat.messages.${suffix}`,
      CHAT_TOPIC_PRESENCE: `chat.presence.${suffix}`,
    };
    onTestFinished(async () => {
      const admin = testKafka().admin();
      await admin.connect();
      await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
      await admin.disconnect();
    });
    const proc = spawnTs('src/discovery/main.ts', [], {
      DISCOVERY_PORT: '0',
      ZOOKEEPER_CONNECT: infra().zookeeperConnect,
      KAFKA_BROKERS: infra().kafkaBrokers.join(','),
      LOG_LEVEL: 'warn',
      ...topics,
    });
    await proc.waitFor(/discovery ready http:\/\/127\.0\.0\.1:\d+/);
    const url = /discovery ready (\S+)/.exec(proc.output())![1]!;
    const health = createClient(Health, createConnectTransport({ baseUrl: url, httpVersion: '1.1' }));
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});
