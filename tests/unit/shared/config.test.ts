import { describe, expect, it } from 'vitest';
import {
  envBool,
  envHostPorts,
  envInt,
  envMatching,
  envUrl,
  readCommonConfig,
} from '../../../src/shared/config.js';
import { zkBasePathFromEnv } from '../../../src/shared/registry.js';

describe('config', () => {
  it('uses loopback defaults', () => {
    expect(readCommonConfig({})).toEqual({
      zookeeperConnect: '127.0.0.1:2181',
      kafkaBrokers: ['127.0.0.1:9092'],
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
    });
  });

  it('names the variable in a one-line error', () => {
    expect(() => envInt({ PORT: 'abc' }, 'PORT', 1, 0, 10)).toThrow('PORT: expected an integer, got "abc"');
    expect(() => envInt({ PORT: '99' }, 'PORT', 1, 0, 10)).toThrow('PORT: expected 0..10, got 99');
    expect(() => envBool({ X: 'maybe' }, 'X', true)).toThrow('X: expected true or false, got "maybe"');
    expect(() => envHostPorts({ KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS', '')).toThrow(
      /KAFKA_BROKERS: expected host:port/,
    );
    expect(() => envUrl({ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', '', ['postgres:'])).toThrow(
      'DATABASE_URL: expected a postgres: URL, got "mysql:"',
    );
    expect(() => envMatching({ ID: 'a b' }, 'ID', 'x', /^\w+$/, 'expected a word, got')).toThrow(
      'ID: expected a word, got "a b"',
    );
    expect(() => zkBasePathFromEnv({ CHAT_ZK_BASE_PATH: 'chat' })).toThrow(
      'CHAT_ZK_BASE_PATH: expected an absolute ZooKeeper path like /chat/servers, got "chat"',
    );
  });

  it('parses valid values', () => {
    expect(envInt({ N: ' 7 ' }, 'N', 1, 0, 10)).toBe(7);
    expect(envBool({ B: 'off' }, 'B', true)).toBe(false);
    expect(envHostPorts({ K: 'a:1, b:2' }, 'K', '')).toEqual(['a:1', 'b:2']);
    expect(envMatching({ ID: ' w1 ' }, 'ID', 'x', /^\w+$/, '')).toBe('w1');
    expect(envMatching({ ID: ' ' }, 'ID', 'x', /^\w+$/, '')).toBe('x');
    expect(zkBasePathFromEnv({})).toBe('/chat/servers');
  });
});

describe('topicsFromEnv', () => {
  it('defaults and overrides, and refuses invalid names', async () => {
    const { topicsFromEnv } = await import('../../../src/shared/topics.js');
    expect(topicsFromEnv({})).toEqual({ messages: 'chat.messages', presence: 'chat.presence' });
    expect(topicsFromEnv({ CHAT_TOPIC_MESSAGES: 'm.x' }).messages).toBe('m.x');
    expect(() => topicsFromEnv({ CHAT_TOPIC_PRESENCE: 'bad topic' })).toThrow(
      'CHAT_TOPIC_PRESENCE: not a valid Kafka topic name: "bad topic"',
    );
  });
});
