/**
 * The chat server's options: every limit and timing with its default, validated once at
 * start-up (a bad value throws CHAT_ERR_CONFIG naming the field), plus the environment reader
 * used by main.ts.
 */
import { randomBytes } from 'node:crypto';
import { MIN_SECRET_BYTES } from '../shared/auth.js';
import {
  type Env,
  envBool,
  envInt,
  envOptional,
  envPort,
  envString,
  readCommonConfig,
} from '../shared/config.js';
import { ChatBackendError } from '../shared/errors.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FRAME_BYTES } from '../shared/limits.js';
import type { Logger } from '../shared/logger.js';
import { CHAT_SERVERS_PATH, zkBasePathFromEnv } from '../shared/registry.js';
import { DEFAULT_TOPICS, type Topics, topicsFromEnv } from '../shared/topics.js';
import { DEFAULT_WRITER_GROUP } from '../writer/index.js';
import { DEFAULT_LINGER_MS } from './batching-producer.js';

/** Options of createEdgeServer. */
export interface EdgeOptions {
  /** This server's id: ZooKeeper node name, presence key part, consumer group suffix. Default "edge-<random>". */
  id?: string;
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 picks a free one. Default 8080. */
  port?: number;
  /** The WebSocket URL registered in ZooKeeper for clients. Default ws://<host>:<port>/ws. */
  publicWsUrl?: string;
  /** HS256 secret for access tokens (CHAT_AUTH_SECRET), at least 32 bytes. Required. */
  authSecret: string;
  /** Kafka bootstrap brokers. Required. */
  kafkaBrokers: string[];
  /** PostgreSQL URL (catch-up reads, read_state). Required. */
  databaseUrl: string;
  /** ZooKeeper connect string. Required. */
  zookeeperConnect: string;
  /** Parent znode of chat server registrations. Default /chat/servers. */
  zkBasePath?: string;
  /** ZooKeeper session timeout in ms. Default 6000. */
  zkSessionTimeoutMs?: number;
  /** Kafka topics. Default chat.messages / chat.presence. */
  topics?: Topics;
  /** Create the topics at start when missing. Default true. */
  ensureTopics?: boolean;
  /** The writer's consumer group, whose commits tell catch-up what is stored. Default "chat-writer". */
  writerGroupId?: string;
  /** Heartbeat interval told to clients in Welcome, in ms; silence for 3 intervals closes with 4000. Default 10000. */
  heartbeatIntervalMs?: number;
  /** Largest WebSocket frame in bytes; bigger closes with 1009. Default 65 KiB + 1 KiB. */
  maxFrameBytes?: number;
  /** Largest SendMessage body in UTF-8 bytes; bigger gets TOO_LARGE. Default 65536. */
  maxBodyBytes?: number;
  /** Token-bucket refill rate per connection, sends per second. Default 100. */
  sendRatePerSecond?: number;
  /** Token-bucket size per connection. Default 200. */
  sendBurst?: number;
  /** Allowed Origin header values; a disallowed Origin gets HTTP 403. Default: any (and none). */
  allowedOrigins?: string[];
  /** How long the batching producer waits for more sends (Kafka's linger.ms), in ms. Default 5. */
  lingerMs?: number;
  /** Most messages per Kafka request. Default 500. */
  maxBatch?: number;
  /** Most payload bytes per Kafka request (under the broker's message.max.bytes). Default 900000. */
  maxBatchBytes?: number;
  /** Most sends queued for Kafka; more get UNAVAILABLE. Default 20000. */
  maxQueuedSends?: number;
  /** From SendMessage to Kafka ack at most this long, else UNAVAILABLE, in ms. Default 5000. */
  sendTimeoutMs?: number;
  /** How long catch-up waits for the writer to store what precedes the live stream, in ms. Default 15000. */
  catchUpTimeoutMs?: number;
  /** Rows per catch-up database page. Default 500. */
  catchUpPageSize?: number;
  /** Live messages buffered per session during catch-up before the buffer is re-read from the database. Default 5000. */
  catchUpBufferLimit?: number;
  /** Clock skew bound between chat servers, in ms: catch-up re-reads this window before the cursor. Default 1000. */
  skewMs?: number;
  /** How long to wait for the first Heartbeat (it selects the catch-up cursor), in ms. Default 1000. */
  firstHeartbeatWaitMs?: number;
  /** A socket with more unsent bytes than this is a stalled reader and is closed with 1013. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** How often the shared poller reads the writer's committed offsets while sessions wait, in ms. Default 50. */
  watermarkPollMs?: number;
  /** How often dirty presence is published, in ms. Default min(1000, heartbeatIntervalMs / 2). */
  presenceFlushMs?: number;
  /** Invalid frames tolerated per connection before it is closed (1003/1007). Default 10. */
  maxInvalidFrames?: number;
  /** Drain closes sockets in this many waves. Default 5. */
  drainWaves?: number;
  /** Drain spreads the waves over this long, in ms. Default 2000. */
  drainDurationMs?: number;
  /**
   * The seed design kept for the benchmarks: INSERT each message into PostgreSQL before producing
   * and acking it. Default false (the writer stores messages).
   */
  sendPathInsert?: boolean;
  /** pino logger. Default: a silent-under-tests "edge" logger. */
  logger?: Logger;
}

/** Options with every default applied. */
export type ResolvedEdgeOptions = Required<Omit<EdgeOptions, 'allowedOrigins' | 'logger' | 'publicWsUrl'>> & {
  allowedOrigins: string[] | undefined;
  publicWsUrl: string | undefined;
  logger: Logger | undefined;
};

function fail(field: string, problem: string): never {
  throw new ChatBackendError('CHAT_ERR_CONFIG', `${field}: ${problem}`);
}

function positive(field: string, value: number, min = 1): number {
  if (!Number.isFinite(value) || value < min) fail(field, `expected a number >= ${min}, got ${value}`);
  return value;
}

/** Applies defaults and validates; throws CHAT_ERR_CONFIG naming the first bad field. */
export function resolveEdgeOptions(o: EdgeOptions): ResolvedEdgeOptions {
  if (Buffer.byteLength(o.authSecret ?? '') < MIN_SECRET_BYTES) {
    fail('authSecret', `must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  if (!o.kafkaBrokers?.length) fail('kafkaBrokers', 'expected at least one host:port');
  if (!o.databaseUrl) fail('databaseUrl', 'required');
  if (!o.zookeeperConnect) fail('zookeeperConnect', 'required');
  const heartbeatIntervalMs = positive('heartbeatIntervalMs', o.heartbeatIntervalMs ?? 10000, 10);
  const id = o.id ?? `edge-${randomBytes(4).toString('hex')}`;
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) fail('id', `expected 1..128 of [A-Za-z0-9._:-], got "${id}"`);
  const port = o.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('port', `expected 0..65535, got ${port}`);
  const maxBodyBytes = positive('maxBodyBytes', o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const maxFrameBytes = positive('maxFrameBytes', o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 64);
  return {
    id,
    host: o.host ?? '127.0.0.1',
    port,
    publicWsUrl: o.publicWsUrl,
    authSecret: o.authSecret,
    kafkaBrokers: o.kafkaBrokers,
    databaseUrl: o.databaseUrl,
    zookeeperConnect: o.zookeeperConnect,
    zkBasePath: o.zkBasePath ?? CHAT_SERVERS_PATH,
    zkSessionTimeoutMs: positive('zkSessionTimeoutMs', o.zkSessionTimeoutMs ?? 6000, 100),
    topics: o.topics ?? DEFAULT_TOPICS,
    ensureTopics: o.ensureTopics ?? true,
    writerGroupId: o.writerGroupId ?? DEFAULT_WRITER_GROUP,
    heartbeatIntervalMs,
    maxFrameBytes,
    maxBodyBytes,
    sendRatePerSecond: positive('sendRatePerSecond', o.sendRatePerSecond ?? 100, 0.001),
    sendBurst: positive('sendBurst', o.sendBurst ?? 200),
    allowedOrigins: o.allowedOrigins,
    lingerMs: positive('lingerMs', o.lingerMs ?? DEFAULT_LINGER_MS, 0),
    maxBatch: positive('maxBatch', o.maxBatch ?? 500),
    maxBatchBytes: positive('maxBatchBytes', o.maxBatchBytes ?? 900_000, 1024),
    maxQueuedSends: positive('maxQueuedSends', o.maxQueuedSends ?? 20000),
    sendTimeoutMs: positive('sendTimeoutMs', o.sendTimeoutMs ?? 5000, 10),
    catchUpTimeoutMs: positive('catchUpTimeoutMs', o.catchUpTimeoutMs ?? 15000, 10),
    catchUpPageSize: positive('catchUpPageSize', o.catchUpPageSize ?? 500),
    catchUpBufferLimit: positive('catchUpBufferLimit', o.catchUpBufferLimit ?? 5000),
    skewMs: positive('skewMs', o.skewMs ?? 1000, 0),
    firstHeartbeatWaitMs: positive('firstHeartbeatWaitMs', o.firstHeartbeatWaitMs ?? 1000, 0),
    maxBufferedBytes: positive('maxBufferedBytes', o.maxBufferedBytes ?? 4 * 1024 * 1024, 1024),
    watermarkPollMs: positive('watermarkPollMs', o.watermarkPollMs ?? 50, 5),
    presenceFlushMs: positive(
      'presenceFlushMs',
      o.presenceFlushMs ?? Math.min(1000, heartbeatIntervalMs / 2),
      5,
    ),
    maxInvalidFrames: positive('maxInvalidFrames', o.maxInvalidFrames ?? 10, 0),
    drainWaves: positive('drainWaves', o.drainWaves ?? 5),
    drainDurationMs: positive('drainDurationMs', o.drainDurationMs ?? 2000, 0),
    sendPathInsert: o.sendPathInsert ?? false,
    logger: o.logger,
  };
}

/**
 * Reads the chat server's environment: CHAT_AUTH_SECRET (required), EDGE_HOST, EDGE_PORT,
 * EDGE_ID, EDGE_PUBLIC_URL, EDGE_HEARTBEAT_INTERVAL_MS, EDGE_SEND_PATH_INSERT,
 * EDGE_ALLOWED_ORIGINS (comma-separated), WRITER_GROUP_ID, CHAT_ZK_BASE_PATH, EDGE_MAX_* and EDGE_SEND_*, and the common
 * ZOOKEEPER_CONNECT / KAFKA_BROKERS / DATABASE_URL / CHAT_TOPIC_MESSAGES / CHAT_TOPIC_PRESENCE.
 */
export function readEdgeEnv(env: Env = process.env): Omit<EdgeOptions, 'logger'> {
  const secret = envOptional(env, 'CHAT_AUTH_SECRET');
  if (!secret) throw new ChatBackendError('CHAT_ERR_CONFIG', 'CHAT_AUTH_SECRET: required');
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      `CHAT_AUTH_SECRET: must be at least ${MIN_SECRET_BYTES} bytes`,
    );
  }
  const common = readCommonConfig(env);
  const id = envOptional(env, 'EDGE_ID');
  if (id !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(id)) {
    throw new ChatBackendError('CHAT_ERR_CONFIG', `EDGE_ID: expected 1..128 of [A-Za-z0-9._:-], got "${id}"`);
  }
  const publicWsUrl = envOptional(env, 'EDGE_PUBLIC_URL');
  if (publicWsUrl !== undefined && !/^wss?:\/\/[^\s]+$/.test(publicWsUrl)) {
    throw new ChatBackendError(
      'CHAT_ERR_CONFIG',
      `EDGE_PUBLIC_URL: expected a ws:// or wss:// URL, got "${publicWsUrl}"`,
    );
  }
  const origins = envOptional(env, 'EDGE_ALLOWED_ORIGINS');
  return {
    ...common,
    topics: topicsFromEnv(env),
    authSecret: secret,
    ...(id !== undefined && { id }),
    host: envString(env, 'EDGE_HOST', '127.0.0.1'),
    port: envPort(env, 'EDGE_PORT', 8080),
    ...(publicWsUrl !== undefined && { publicWsUrl }),
    heartbeatIntervalMs: envInt(env, 'EDGE_HEARTBEAT_INTERVAL_MS', 10000, 10, 3_600_000),
    sendPathInsert: envBool(env, 'EDGE_SEND_PATH_INSERT', false),
    writerGroupId: envString(env, 'WRITER_GROUP_ID', DEFAULT_WRITER_GROUP),
    zkBasePath: zkBasePathFromEnv(env),
    zkSessionTimeoutMs: envInt(env, 'ZOOKEEPER_SESSION_TIMEOUT_MS', 6000, 1000, 60000),
    maxFrameBytes: envInt(env, 'EDGE_MAX_FRAME_BYTES', DEFAULT_MAX_FRAME_BYTES, 1024, 16 * 1024 * 1024),
    maxBodyBytes: envInt(env, 'EDGE_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 1, 16 * 1024 * 1024),
    sendRatePerSecond: envInt(env, 'EDGE_SEND_RATE', 100, 1, 1_000_000),
    sendBurst: envInt(env, 'EDGE_SEND_BURST', 200, 1, 1_000_000),
    lingerMs: envInt(env, 'EDGE_PRODUCE_LINGER_MS', DEFAULT_LINGER_MS, 0, 1000),
    maxBufferedBytes: envInt(env, 'EDGE_MAX_BUFFERED_BYTES', 4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    ...(origins !== undefined && {
      allowedOrigins: origins
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    }),
  };
}
