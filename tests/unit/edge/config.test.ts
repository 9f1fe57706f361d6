import { describe, expect, it } from 'vitest';
import { readEdgeEnv, resolveEdgeOptions } from '../../../src/edge/config.js';

const base = {
  authSecret: 'x'.repeat(32),
  kafkaBrokers: ['127.0.0.1:9092'],
  databaseUrl: 'postgres://x@127.0.0.1/db',
  zookeeperConnect: '127.0.0.1:2181',
};

function message(fn: () => unknown): string {
  try {
    fn();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('edge options', () => {
  it('applies defaults', () => {
    const o = resolveEdgeOptions(base);
    expect(o).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      heartbeatIntervalMs: 10000,
      maxBodyBytes: 65536,
      sendRatePerSecond: 100,
      sendBurst: 200,
      lingerMs: 5,
      maxBatch: 500,
      catchUpTimeoutMs: 15000,
      catchUpPageSize: 500,
      skewMs: 1000,
      firstHeartbeatWaitMs: 1000,
      maxBufferedBytes: 4 * 1024 * 1024,
      presenceFlushMs: 1000,
      writerGroupId: 'chat-writer',
      sendPathInsert: false,
    });
    expect(o.id).toMatch(/^edge-[0-9a-f]{8}$/);
  });

  it('names the bad field', () => {
    expect(message(() => resolveEdgeOptions({ ...base, authSecret: 'short' }))).toMatch(/^authSecret:/);
    expect(message(() => resolveEdgeOptions({ ...base, port: 70000 }))).toMatch(/^port:/);
    expect(message(() => resolveEdgeOptions({ ...base, sendBurst: 0 }))).toMatch(/^sendBurst:/);
    expect(message(() => resolveEdgeOptions({ ...base, id: 'a/b' }))).toMatch(/^id:/);
  });

  it('reads the environment, naming the bad variable', () => {
    const env = {
      CHAT_AUTH_SECRET: 'y'.repeat(40),
      EDGE_PORT: '0',
      EDGE_SEND_PATH_INSERT: 'true',
      EDGE_ALLOWED_ORIGINS: 'https://a, https://b',
      EDGE_PRODUCE_LINGER_MS: '0',
    };
    expect(readEdgeEnv(env)).toMatchObject({
      port: 0,
      sendPathInsert: true,
      lingerMs: 0,
      allowedOrigins: ['https://a', 'https://b'],
      topics: { messages: 'chat.messages', presence: 'chat.presence' },
    });
    expect(message(() => readEdgeEnv({}))).toMatch(/^CHAT_AUTH_SECRET:/);
    expect(message(() => readEdgeEnv({ ...env, EDGE_HEARTBEAT_INTERVAL_MS: 'soon' }))).toMatch(
      /^EDGE_HEARTBEAT_INTERVAL_MS:/,
    );
    expect(message(() => readEdgeEnv({ ...env, EDGE_PUBLIC_URL: 'http://x' }))).toMatch(/^EDGE_PUBLIC_URL:/);
    expect(message(() => readEdgeEnv({ ...env, EDGE_PRODUCE_LINGER_MS: '-1' }))).toMatch(
      /^EDGE_PRODUCE_LINGER_MS:/,
    );
  });
});
