/**
 * The writer: a Kafka consumer group member that persists chat.messages into PostgreSQL and
 * chat.presence read cursors into read_state, one statement per Kafka batch.
 *
 * The invariant other services rely on: the group's committed offset of a partition reaches N
 * only after every record below N on that partition is durably stored (as a row or a dead
 * letter). Offsets are committed right after each batch's statement commits; a crash between
 * the two replays the batch, and the unique keys make the replay a no-op.
 */
import type { Server } from 'node:http';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Registry } from 'prom-client';
import { type OpenDatabase, openDatabase } from '../shared/db/database.js';
import { ChatBackendError } from '../shared/errors.js';
import { createKafka, fastConsumerConfig } from '../shared/kafka.js';
import type { Logger } from '../shared/logger.js';
import { createMetricsRegistry } from '../shared/metrics.js';
import { startOpsServer } from '../shared/ops-server.js';
import { DEFAULT_TOPICS, ensureTopics, type Topics } from '../shared/topics.js';
import { Backoff, sleep } from './backoff.js';
import { createWriterMetrics, type WriterMetrics } from './metrics.js';
import { messageBatch, presenceBatch } from './records.js';
import { BatchStore, isDataError, type StoreResult } from './store.js';

/** A heartbeat failed while a statement ran: the group is rebalancing, the batch must not be committed. */
class LostMembership extends Error {}

/** The heartbeat period while a batch statement runs, ms (the consumer's heartbeatInterval). */
const STATEMENT_HEARTBEAT_MS = 1000;

/**
 * Runs a statement while heartbeating the group: kafkajs only heartbeats from the fetch loop,
 * which waits for this batch, so a statement longer than the session timeout (10 s) would
 * otherwise get this member evicted. A failed heartbeat (a rebalance started) is reported as
 * LostMembership once the statement has finished; the stored batch is then replayed by the
 * partition's next owner, and the unique keys absorb it.
 */
async function keepingMembership<T>(heartbeat: () => Promise<void>, run: () => Promise<T>): Promise<T> {
  let lost: unknown;
  const timer = setInterval(() => {
    heartbeat().catch((err: unknown) => {
      lost ??= err;
    });
  }, STATEMENT_HEARTBEAT_MS);
  try {
    const result = await run();
    if (lost !== undefined)
      throw new LostMembership('heartbeat failed during the statement', { cause: lost });
    return result;
  } finally {
    clearInterval(timer);
  }
}

/** The consumer group writers share by default. */
export const DEFAULT_WRITER_GROUP = 'chat-writer';

/** Options of {@link createWriter}. */
export interface WriterOptions {
  /** Kafka bootstrap brokers, host:port. */
  kafkaBrokers: string[];
  /** PostgreSQL URL (postgres://...). Migrations run at start. */
  databaseUrl: string;
  /** Topics to consume. Default {@link DEFAULT_TOPICS}. */
  topics?: Topics;
  /** Consumer group shared by all writers. Default {@link DEFAULT_WRITER_GROUP}. */
  groupId?: string;
  /** Kafka client id. Default "chat-writer-<pid>". */
  clientId?: string;
  /** Create the topics when missing (with the default layout). Default true. */
  createTopics?: boolean;
  /**
   * Partitions whose batches are written at the same time (kafkajs partitionsConsumedConcurrently);
   * the database pool gets this many connections plus one. Default 3.
   */
  concurrency?: number;
  /** Largest fetch per partition, bytes; bounds the batch size. Default 2 MiB. */
  maxBytesPerPartition?: number;
  /** Largest fetch response, bytes; with concurrency this bounds the writer's memory. Default 16 MiB. */
  maxBytes?: number;
  /** First retry delay after a failed batch statement, ms. Default 100. */
  retryInitialMs?: number;
  /** Largest retry delay (exponential backoff with jitter), ms. Default 2000. */
  retryMaxMs?: number;
  /** A batch statement running longer than this is abandoned (its connection dropped) and retried, ms. Default 30000. */
  queryTimeoutMs?: number;
  /** How often the database is pinged for /healthz, ms. Default 2000. */
  healthCheckIntervalMs?: number;
  /** How long start() waits for the consumer to join its group, ms. Default 30000. */
  joinTimeoutMs?: number;
  /** Host of the /healthz + /metrics server. Default 127.0.0.1. */
  opsHost?: string;
  /** Port of the /healthz + /metrics server; 0 picks a free one; undefined starts none. */
  opsPort?: number;
  /** Logger. Default: silent. */
  logger?: Logger;
  /**
   * Called when the Kafka consumer crashed for good (kafkajs will not restart it): the writer
   * stores nothing more and /healthz says so. main.ts exits so a supervisor restarts it.
   * Default: only logged.
   */
  onFatal?: (err: unknown) => void;
}

/** A running (or startable) writer. */
export interface Writer {
  /** Opens the database (refusing synchronous_commit=off), joins the group and starts storing. */
  start(): Promise<void>;
  /** Stops consuming, lets the in-flight batch finish and commit, leaves the group, closes everything. */
  stop(): Promise<void>;
  /** The writer's metrics (also served on /metrics). */
  readonly metrics: Registry;
  /** Base URL of the ops server, once started with opsPort set. */
  readonly opsUrl?: string;
}

function configError(field: string, problem: string): ChatBackendError {
  return new ChatBackendError('CHAT_ERR_CONFIG', `writer option ${field}: ${problem}`);
}

function positiveInt(field: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n <= 0) throw configError(field, `expected a positive integer, got ${n}`);
  return n;
}

/** Options with defaults applied, validated. */
function resolveOptions(options: WriterOptions) {
  if (!Array.isArray(options.kafkaBrokers) || options.kafkaBrokers.length === 0) {
    throw configError('kafkaBrokers', 'expected at least one host:port');
  }
  if (!/^postgres(ql)?:\/\//.test(options.databaseUrl ?? '')) {
    throw configError('databaseUrl', 'expected a postgres:// URL');
  }
  const topics = options.topics ?? DEFAULT_TOPICS;
  if (!topics.messages || !topics.presence || topics.messages === topics.presence) {
    throw configError('topics', 'expected two distinct topic names');
  }
  const groupId = options.groupId ?? DEFAULT_WRITER_GROUP;
  if (groupId === '') throw configError('groupId', 'expected a non-empty group id');
  if (
    options.opsPort !== undefined &&
    !(Number.isInteger(options.opsPort) && options.opsPort >= 0 && options.opsPort <= 65535)
  ) {
    throw configError('opsPort', `expected 0..65535, got ${options.opsPort}`);
  }
  const retryInitialMs = positiveInt('retryInitialMs', options.retryInitialMs, 100);
  const retryMaxMs = positiveInt('retryMaxMs', options.retryMaxMs, 2000);
  if (retryMaxMs < retryInitialMs) throw configError('retryMaxMs', 'must be >= retryInitialMs');
  return {
    kafkaBrokers: options.kafkaBrokers,
    databaseUrl: options.databaseUrl,
    topics,
    groupId,
    clientId: options.clientId ?? `chat-writer-${process.pid}`,
    createTopics: options.createTopics ?? true,
    concurrency: positiveInt('concurrency', options.concurrency, 3),
    maxBytesPerPartition: positiveInt('maxBytesPerPartition', options.maxBytesPerPartition, 2 * 1024 * 1024),
    maxBytes: positiveInt('maxBytes', options.maxBytes, 16 * 1024 * 1024),
    retryInitialMs,
    retryMaxMs,
    queryTimeoutMs: positiveInt('queryTimeoutMs', options.queryTimeoutMs, 30000),
    healthCheckIntervalMs: positiveInt('healthCheckIntervalMs', options.healthCheckIntervalMs, 2000),
    joinTimeoutMs: positiveInt('joinTimeoutMs', options.joinTimeoutMs, 30000),
    opsHost: options.opsHost ?? '127.0.0.1',
    opsPort: options.opsPort,
    logger: options.logger,
    onFatal: options.onFatal,
  };
}

type ResolvedOptions = ReturnType<typeof resolveOptions>;

/** Creates a writer; nothing connects until start(). Throws CHAT_ERR_CONFIG on invalid options. */
export function createWriter(options: WriterOptions): Writer {
  return new KafkaWriter(resolveOptions(options));
}

class KafkaWriter implements Writer {
  readonly metrics: Registry;
  readonly #options: ResolvedOptions;
  readonly #m: WriterMetrics;
  readonly #log: Logger | undefined;
  #database: OpenDatabase | undefined;
  #store: BatchStore | undefined;
  #consumer: Consumer | undefined;
  #ops: { server: Server; url: string; close(): Promise<void> } | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #joined = false;
  #databaseUp = false;
  #state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  readonly #stopping = new AbortController();

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#log = options.logger?.child({ component: 'writer' });
    this.metrics = createMetricsRegistry('writer');
    this.#m = createWriterMetrics(this.metrics);
  }

  get opsUrl(): string | undefined {
    return this.#ops?.url;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ChatBackendError('CHAT_ERR_INTERNAL', 'writer.start() called twice');
    this.#state = 'starting';
    try {
      await this.#startDatabase();
      await this.#startConsumer();
      this.#startHealthPing();
      if (this.#options.opsPort !== undefined) {
        this.#ops = await startOpsServer({
          host: this.#options.opsHost,
          port: this.#options.opsPort,
          registry: this.metrics,
          checks: { kafka: () => this.#joined, database: () => this.#databaseUp },
        });
      }
      this.#state = 'running';
      this.#log?.info({ groupId: this.#options.groupId, topics: this.#options.topics }, 'writer started');
    } catch (err) {
      await this.#close();
      this.#state = 'stopped';
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    await this.#close();
    this.#log?.info('writer stopped');
  }

  async #close(): Promise<void> {
    this.#stopping.abort();
    clearInterval(this.#pingTimer);
    // disconnect() waits for the in-flight batches: each one either finishes (stored, then
    // committed) or gives up untouched when it was still retrying an unavailable database.
    await this.#consumer
      ?.disconnect()
      .catch((err: unknown) => this.#log?.warn({ err }, 'kafka disconnect failed'));
    this.#joined = false;
    await this.#ops?.close();
    await this.#database?.close();
  }

  async #startDatabase(): Promise<void> {
    const { databaseUrl, concurrency, queryTimeoutMs } = this.#options;
    this.#database = await openDatabase({
      url: databaseUrl,
      maxConnections: concurrency + 1,
      applicationName: 'chat-writer',
    });
    this.#store = new BatchStore(this.#database.pool, queryTimeoutMs);
    const setting = await this.#store.synchronousCommit();
    if (setting === 'off') {
      throw new ChatBackendError(
        'CHAT_ERR_CONFIG',
        'synchronous_commit is off for the writer database session: stored rows could be lost on a crash; remove that setting (role, database or DATABASE_URL options)',
      );
    }
    this.#databaseUp = true;
  }

  async #startConsumer(): Promise<void> {
    const o = this.#options;
    const kafka = createKafka({ brokers: o.kafkaBrokers, clientId: o.clientId, logger: o.logger });
    if (o.createTopics) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, o.topics);
      } finally {
        await admin.disconnect();
      }
    }
    const consumer = kafka.consumer(
      fastConsumerConfig(o.groupId, { maxBytesPerPartition: o.maxBytesPerPartition, maxBytes: o.maxBytes }),
    );
    this.#consumer = consumer;
    const joined = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, () => {
        this.#joined = true;
        resolve();
      });
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.#joined = false;
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.#joined = false;
      this.#log?.error(
        { err: event.payload.error, restart: event.payload.restart },
        'kafka consumer crashed',
      );
    });
    consumer.on(consumer.events.STOP, () => {
      this.#joined = false;
    });
    await consumer.connect();
    // A new group starts at the beginning: everything ever produced must be stored.
    await consumer.subscribe({ topics: [o.topics.messages, o.topics.presence], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: o.concurrency,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ChatBackendError(
              'CHAT_ERR_UNAVAILABLE',
              `writer did not join Kafka group ${o.groupId} within ${o.joinTimeoutMs} ms`,
            ),
          ),
        o.joinTimeoutMs,
      );
    });
    try {
      await Promise.race([joined, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #startHealthPing(): void {
    let pinging = false;
    this.#pingTimer = setInterval(() => {
      if (pinging || !this.#store) return;
      pinging = true;
      this.#store
        .ping()
        .then(
          () => {
            this.#databaseUp = true;
          },
          () => {
            this.#databaseUp = false;
          },
        )
        .finally(() => {
          pinging = false;
        });
    }, this.#options.healthCheckIntervalMs);
    this.#pingTimer.unref();
  }

  /** Stores one batch (retrying until stored, stopped or rebalanced away), then commits past it. */
  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale, heartbeat, pause, resolveOffset, commitOffsetsIfNecessary } = payload;
    if (batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const kind = topic === this.#options.topics.messages ? 'messages' : 'presence';
    const store = this.#store as BatchStore;
    // Decoded once; a retry re-sends the same rows.
    let write: () => Promise<StoreResult>;
    if (kind === 'messages') {
      const rows = messageBatch(batch.messages);
      write = () => store.storeMessages(topic, partition, rows);
    } else {
      const cursors = presenceBatch(batch.messages);
      write = () => store.storeReadState(topic, partition, cursors);
    }
    const backoff = new Backoff({ initialMs: this.#options.retryInitialMs, maxMs: this.#options.retryMaxMs });
    let resume: (() => void) | undefined;
    let result: StoreResult;
    try {
      for (;;) {
        // Not stored: resolve and commit nothing, so the batch is fetched again by whoever owns it next.
        if (!isRunning() || isStale() || this.#stopping.signal.aborted) return;
        const end = this.#m.insertSeconds.startTimer({ topic_kind: kind });
        try {
          result = await keepingMembership(heartbeat, write);
          end();
          this.#databaseUp = true;
          break;
        } catch (err) {
          if (err instanceof LostMembership) throw err.cause;
          if (!isDataError(err)) this.#databaseUp = false;
          this.#m.databaseErrors.inc();
          const delay = backoff.next();
          this.#log?.warn(
            { err, topic, partition, attempt: backoff.attempts, delayMs: delay },
            'batch not stored; retrying',
          );
          // Hold the partition while the database is away; memory stays at this one batch.
          resume ??= pause();
          await sleep(delay, this.#stopping.signal);
          // Keeps the group membership alive; throws when a rebalance took the partition away.
          await heartbeat();
        }
      }
    } finally {
      resume?.();
    }
    this.#m.batchSize.observe({ topic_kind: kind }, batch.messages.length);
    this.#m.rowsWritten.inc({ table: kind === 'messages' ? 'messages' : 'read_state' }, result.stored);
    if (result.deadLetters > 0) {
      this.#m.deadLetters.inc({ topic }, result.deadLetters);
      this.#log?.warn({ topic, partition, count: result.deadLetters }, 'records moved to dead_letters');
    }
    const lastOffset = batch.lastOffset();
    resolveOffset(lastOffset);
    const next = (BigInt(lastOffset) + 1n).toString();
    await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
    this.#m.consumerLag.set({ topic, partition: String(partition) }, Number(batch.offsetLag()));
  }
}
