/**
 * One place that builds kafkajs clients, with settings tuned for this system: fast reconnects,
 * kafkajs' own logs routed into pino, and consumer settings that make a new member live in
 * seconds rather than the 30 s defaults.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type ConsumerConfig, type ISocketFactory, Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { Logger } from './logger.js';

/** Options of {@link createKafka}. */
export interface KafkaOptions {
  /** Bootstrap brokers, host:port. */
  brokers: string[];
  /** Client id sent to the broker (shows up in broker logs and quotas). */
  clientId: string;
  /** Where kafkajs logs go. Default: nowhere. */
  logger?: Logger;
  /** Connection timeout in ms. Default 3000. */
  connectionTimeout?: number;
  /** Request timeout in ms. Default 10000. */
  requestTimeout?: number;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * kafkajs warnings about settings this system makes on purpose, logged at debug instead. The
 * producer's retries are bounded (see createKafka's retry) so a send fails with UNAVAILABLE
 * instead of hanging while Kafka is down; a batch that is written after all is absorbed by the
 * (sender, client_message_id) de-duplication downstream, which is the guarantee we rely on.
 */
const DELIBERATE = new Set(['Limiting retries for the idempotent producer may invalidate EoS guarantees']);

/**
 * kafkajs' own socket factory leaves Nagle's algorithm on. Kafka traffic is many small requests
 * (fetches, produce batches, heartbeats) on one connection, so a small write waiting for the ACK
 * of the previous one meets the peer's delayed ACK (40 ms on Linux) and delivery latency jumps
 * to tens of milliseconds. Same as kafkajs' factory otherwise (keep-alive 60 s).
 */
export const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tlsConnect({ host, port, servername: host, ...ssl }, onConnect)
    : netConnect({ host, port }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60000);
  return socket;
};

/** A kafkajs client. */
export function createKafka(options: KafkaOptions): Kafka {
  const log = options.logger?.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    socketFactory: noDelaySocketFactory,
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: options.requestTimeout ?? 10000,
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 8 },
    logLevel: log ? logLevel.WARN : logLevel.NOTHING,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        if (!log) return;
        const { message, ...rest } = entry;
        log[DELIBERATE.has(message) ? 'debug' : (LEVELS[level] ?? 'info')](rest, message);
      },
  });
}

/**
 * Consumer settings for a group member that must be live quickly: short session timeout and
 * heartbeats, and a short metadata max age so new partitions are seen promptly.
 */
export function fastConsumerConfig(groupId: string, overrides: Partial<ConsumerConfig> = {}): ConsumerConfig {
  return {
    groupId,
    sessionTimeout: 10000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 10 },
    ...overrides,
  };
}
