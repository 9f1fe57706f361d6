import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createKafka } from '../../../src/shared/kafka.js';

describe('createKafka logging', () => {
  it('routes kafkajs logs into pino; the bounded-retry warning for our idempotent producer is debug, not warn', () => {
    const lines: { level: number; msg: string; component?: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    // Creating the producer is enough: kafkajs logs the warning before connecting.
    createKafka({ brokers: ['127.0.0.1:1'], clientId: 'log-test', logger }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const line = lines.find((l) => l.msg.startsWith('Limiting retries for the idempotent producer'));
    expect(line).toMatchObject({ level: 20, component: 'kafkajs' });
  });
});
