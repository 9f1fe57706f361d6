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
import { Semaphore } from './semaphore.js';
import { BatchStore, isDataError, type StoreResult } from './store.js';

/**
 * Batches a partition may hold (one being written, the rest waiting). When full, the partition
 * is paused and further batches are left unresolved, so kafkajs fetches them again later.
 */
const MAX_BATCHES_PER_PARTITION = 2;

/** The batches of one partition, written one after another in offset order. */
interface Lane {
  /** The last queued write. */
  tail: Promise<void>;
  /** Batches queued, the one being written included. */
  queued: number;
  /** Resumes the partition when it was paused because the lane was full. */
  resume?: () => void;
  /** Set once a batch was given up unstored (on stop): no later batch may commit past it. */
  abandoned: boolean;
}

/**
 * Batch statements one writer runs at once by default. Each statement keeps one PostgreSQL
 * backend busy; on the shared 2-core development machine 2 did about as well as 3 (which adds
 * lock and CPU contention) and better than 1 (noisy measurements, see docs/writer.md).
 */
export const DEFAULT_WRITER_CONCURRENCY = 2;

/** Default {@link WriterOptions.fetchMinBytes}. */
export const DEFAULT_WRITER_FETCH_MIN_BYTES = 65536;
/** Default {@link WriterOptions.fetchMaxWaitMs}. */
export const DEFAULT_WRITER_FETCH_MAX_WAIT_MS = 50;

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
   * Batch statements running at the same time (each partition's batches are written one after
   * another; different partitions in parallel); the database pool gets this many connections
   * plus one. Default {@link DEFAULT_WRITER_CONCURRENCY}.
   */
  concurrency?: number;
  /**
   * Largest fetch per partition, bytes; bounds the batch size. The writer holds at most two
   * batches per assigned partition, so memory stays under partitions x 2 x this. Default 2 MiB.
   */
  maxBytesPerPartition?: number;
  /** Largest fetch response, bytes; with concurrency this bounds the writer's memory. Default 16 MiB. */
  maxBytes?: number;
  /**
   * The broker answers a fetch once this many bytes are there, or after fetchMaxWaitMs. The
   * writer is off the delivery path, so it trades a little lag for batches: at 5,000 msg/s the
   * defaults turn ~2,000 one-to-three-row statements (and offset commits) per second into ~120
   * larger ones. Default 65536.
   */
  fetchMinBytes?: number;
  /** Longest the broker holds a fetch waiting for fetchMinBytes, ms. Adds at most this to catch-up waits. Default 50. */
  fetchMaxWaitMs?: number;
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
   * Called when the writer cannot go on (the Kafka consumer crashed for good, or a batch failed
   * in a way retrying cannot fix): it stores nothing more on the affected partitions.
   * main.ts exits so a supervisor restarts it. Default: only logged.
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
    concurrency: positiveInt('concurrency', options.concurrency, DEFAULT_WRITER_CONCURRENCY),
    maxBytesPerPartition: positiveInt('maxBytesPerPartition', options.maxBytesPerPartition, 2 * 1024 * 1024),
    maxBytes: positiveInt('maxBytes', options.maxBytes, 16 * 1024 * 1024),
    fetchMinBytes: positiveInt('fetchMinBytes', options.fetchMinBytes, DEFAULT_WRITER_FETCH_MIN_BYTES),
    fetchMaxWaitMs: positiveInt('fetchMaxWaitMs', options.fetchMaxWaitMs, DEFAULT_WRITER_FETCH_MAX_WAIT_MS),
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
  readonly #lanes = new Map<string, Lane>();
  readonly #statements: Semaphore;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#log = options.logger?.child({ component: 'writer' });
    this.metrics = createMetricsRegistry('writer');
    this.#m = createWriterMetrics(this.metrics);
    this.#statements = new Semaphore(options.concurrency);
  }

  get opsUrl(): string | undefined {
    return this.#ops?.url;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ChatBackendError('CHAT_ERR_INTERNAL', 'writer.start() called twice');
    this.#state = 'starting';
    // stop() may run while start() awaits (a signal during start-up): whatever was opened in
    // between is closed again and start() fails.
    const stoppedMeanwhile = () => {
      if (this.#stopping.signal.aborted) {
        throw new ChatBackendError('CHAT_ERR_UNAVAILABLE', 'writer stopped while starting');
      }
    };
    try {
      await this.#startDatabase();
      stoppedMeanwhile();
      await this.#startConsumer();
      stoppedMeanwhile();
      this.#startHealthPing();
      if (this.#options.opsPort !== undefined) {
        this.#ops = await startOpsServer({
          host: this.#options.opsHost,
          port: this.#options.opsPort,
          registry: this.metrics,
          checks: { kafka: () => this.#joined, database: () => this.#databaseUp },
        });
      }
      stoppedMeanwhile();
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
    const consumer = this.#consumer;
    if (consumer) {
      // Stop fetching, let each partition's batch in flight finish and commit (commits need a
      // running consumer), then leave the group. Batches not yet started are dropped unstored
      // and uncommitted: the partition's next owner reads them again.
      const { messages, presence } = this.#options.topics;
      try {
        consumer.pause([{ topic: messages }, { topic: presence }]);
      } catch {
        // not running yet: nothing was fetched
      }
      await Promise.all([...this.#lanes.values()].map((lane) => lane.tail));
      await consumer
        .disconnect()
        .catch((err: unknown) => this.#log?.warn({ err }, 'kafka disconnect failed'));
    }
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
      fastConsumerConfig(o.groupId, {
        maxBytesPerPartition: o.maxBytesPerPartition,
        maxBytes: o.maxBytes,
        minBytes: o.fetchMinBytes,
        maxWaitTimeInMs: o.fetchMaxWaitMs,
      }),
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
      // Handlers only queue the batch (fast), so kafkajs fetches the next batches while the
      // database writes the previous ones.
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => this.#enqueue(payload),
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

  /**
   * Queues a fetched batch on its partition's lane and resolves it at once, so kafkajs goes on
   * fetching; the offset is committed only when the lane has stored it (and everything before).
   */
  #enqueue(payload: EachBatchPayload): void {
    const { batch, pause, resolveOffset } = payload;
    if (batch.messages.length === 0 || this.#stopping.signal.aborted) return;
    const { topic, partition } = batch;
    const key = `${topic}/${partition}`;
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { tail: Promise.resolve(), queued: 0, abandoned: false };
      this.#lanes.set(key, lane);
    }
    if (lane.queued >= MAX_BATCHES_PER_PARTITION) {
      // Full (the database is slow or away): hold the partition. Not resolved, so this batch is
      // fetched again after resume.
      lane.resume ??= pause();
      return;
    }
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
    const job: BatchJob = {
      topic,
      partition,
      kind,
      write,
      records: batch.messages.length,
      next: (BigInt(batch.lastOffset()) + 1n).toString(),
      highWatermark: batch.highWatermark,
    };
    const current = lane;
    current.queued += 1;
    current.tail = current.tail
      .then(() => this.#storeAndCommit(current, job))
      .catch((err: unknown) => {
        // A bug, not a database failure (those are retried): stop this partition's progress
        // rather than commit later batches past an unstored one, and let main restart us.
        current.abandoned = true;
        this.#log?.error({ err, topic, partition }, 'batch failed unexpectedly');
        this.#options.onFatal?.(err);
      })
      .finally(() => {
        current.queued -= 1;
        if (current.resume && current.queued < MAX_BATCHES_PER_PARTITION && !this.#stopping.signal.aborted) {
          const resume = current.resume;
          current.resume = undefined;
          resume();
        }
      });
    resolveOffset(batch.lastOffset());
  }

  /** Stores one batch (retrying until stored or stopped), then commits past it. */
  async #storeAndCommit(lane: Lane, job: BatchJob): Promise<void> {
    const { topic, partition, kind } = job;
    const backoff = new Backoff({ initialMs: this.#options.retryInitialMs, maxMs: this.#options.retryMaxMs });
    let result: StoreResult;
    for (;;) {
      // An earlier batch of this lane was given up, or the writer stops: store and commit
      // nothing, so the batch is read again by whoever owns the partition next.
      if (lane.abandoned || this.#stopping.signal.aborted) {
        lane.abandoned = true;
        return;
      }
      try {
        result = await this.#statements.run(async () => {
          const end = this.#m.insertSeconds.startTimer({ topic_kind: kind });
          const stored = await job.write();
          end();
          return stored;
        });
        this.#databaseUp = true;
        break;
      } catch (err) {
        if (!isDataError(err)) this.#databaseUp = false;
        this.#m.databaseErrors.inc();
        const delay = backoff.next();
        this.#log?.warn(
          { err, topic, partition, attempt: backoff.attempts, delayMs: delay },
          'batch not stored; retrying',
        );
        await sleep(delay, this.#stopping.signal);
      }
    }
    this.#m.batchSize.observe({ topic_kind: kind }, job.records);
    this.#m.rowsWritten.inc({ table: kind === 'messages' ? 'messages' : 'read_state' }, result.stored);
    if (result.deadLetters > 0) {
      this.#m.deadLetters.inc({ topic }, result.deadLetters);
      this.#log?.warn({ topic, partition, count: result.deadLetters }, 'records moved to dead_letters');
    }
    try {
      // Everything below job.next on this partition is stored: the lane stored the earlier
      // batches first. (After a rebalance this may move the offset back; never ahead.)
      await (this.#consumer as Consumer).commitOffsets([{ topic, partition, offset: job.next }]);
    } catch (err) {
      // The next batch's commit covers this one; until then a restart replays it harmlessly.
      this.#log?.warn({ err, topic, partition }, 'offset commit failed');
    }
    this.#m.consumerLag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(job.highWatermark) - Number(job.next)),
    );
  }
}

/** One fetched batch, decoded, waiting in its partition's lane. */
interface BatchJob {
  topic: string;
  partition: number;
  kind: 'messages' | 'presence';
  write: () => Promise<StoreResult>;
  records: number;
  /** The offset to commit once stored: last offset + 1. */
  next: string;
  highWatermark: string;
}
