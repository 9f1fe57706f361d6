/** Discovery environment: loopback defaults, one-line errors naming the variable. */
import { describe, expect, it } from 'vitest';
import { readDiscoveryConfig } from '../../../src/discovery/config.js';

describe('readDiscoveryConfig', () => {
  it('defaults to loopback and the usual gRPC port', () => {
    expect(readDiscoveryConfig({})).toEqual({
      host: '127.0.0.1',
      port: 50051,
      zookeeperConnect: '127.0.0.1:2181',
      basePath: '/chat/servers',
      sessionTimeoutMs: 6000,
      kafkaBrokers: ['127.0.0.1:9092'],
      topics: { messages: 'chat.messages', presence: 'chat.presence' },
      corsOrigins: ['*'],
      http2IdleTimeoutMs: 300_000,
    });
  });

  it('reads every variable', () => {
    const config = readDiscoveryConfig({
      DISCOVERY_HOST: '0.0.0.0',
      DISCOVERY_PORT: '0',
      ZOOKEEPER_CONNECT: 'zk1:2181,zk2:2181',
      ZOOKEEPER_SESSION_TIMEOUT_MS: '10000',
      KAFKA_BROKERS: 'k:9092',
      CHAT_TOPIC_PRESENCE: 'p.test',
      CHAT_ZK_BASE_PATH: '/staging/chat/servers',
      DISCOVERY_CORS_ORIGINS: 'http://a.test:8080, https://b.test',
      DISCOVERY_HTTP2_IDLE_TIMEOUT_MS: '0',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      zookeeperConnect: 'zk1:2181,zk2:2181',
      basePath: '/staging/chat/servers',
      sessionTimeoutMs: 10000,
      kafkaBrokers: ['k:9092'],
      corsOrigins: ['http://a.test:8080', 'https://b.test'],
      http2IdleTimeoutMs: 0,
    });
    expect(config.topics.presence).toBe('p.test');
  });

  it.each([
    [{ DISCOVERY_PORT: '70000' }, /^DISCOVERY_PORT: /],
    [{ DISCOVERY_PORT: 'abc' }, /^DISCOVERY_PORT: /],
    [{ ZOOKEEPER_CONNECT: 'nohost' }, /^ZOOKEEPER_CONNECT: /],
    [{ ZOOKEEPER_SESSION_TIMEOUT_MS: '10' }, /^ZOOKEEPER_SESSION_TIMEOUT_MS: /],
    [{ KAFKA_BROKERS: 'x' }, /^KAFKA_BROKERS: /],
    [{ DISCOVERY_HOST: 'a b' }, /^DISCOVERY_HOST: /],
    [{ DISCOVERY_CORS_ORIGINS: 'a.test' }, /^DISCOVERY_CORS_ORIGINS: /],
    [{ CHAT_ZK_BASE_PATH: 'chat/servers/' }, /^CHAT_ZK_BASE_PATH: /],
  ])('refuses %o with a one-line error naming the variable', (env, message) => {
    expect(() => readDiscoveryConfig(env)).toThrow(message);
  });
});
