/**
 * Writer benchmark: the same generated chat messages stored three ways, in one run.
 *   (a) through the writer: produced to Kafka first, then timed while a fresh writer drains them
 *       into PostgreSQL (one unnest statement per Kafka batch, offsets committed after each);
 *   (b) the old design: one INSERT per message, awaited one after another on one connection
 *       (on a sample; the rate is what matters);
 *   (c) the raw ceiling: one binary COPY of the same rows straight into the messages table.
 * Run directly (`tsx bench/writer.ts [rows] [concurrency]`, default 100,000 rows) it writes
 * bench/results/writer.json.
 * Needs Kafka and PostgreSQL (KAFKA_BROKERS, DATABASE_URL; `npm run infra:up`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ChatMessage } from '../gen/chat/v1/message_pb.js';
import { chatMessageRecord, msOf, newChatMessage } from '../src/shared/codec.js';
import { readCommonConfig } from '../src/shared/config.js';
import { openDatabase } from '../src/shared/db/database.js';
import { newMessageId } from '../src/shared/ids.js';
import { createKafka } from '../src/shared/kafka.js';
import { ensureTopics, type Topics, uniqueTopics } from '../src/shared/topics.js';
import { createWriter } from '../src/writer/index.js';

/** Options of {@link runWriterBench}. */
export interface WriterBenchOptions {
  /** Messages stored by (a) and (c). Default 100,000. */
  rows?: number;
  /** Messages inserted one by one in (b); its rate is extrapolated. Default min(rows, 5,000). */
  perRowSample?: number;
  /** Partitions of the benchmark's messages topic. Default 6 (the production default). */
  partitions?: number;
  /** Kafka brokers. Default from KAFKA_BROKERS (127.0.0.1:9092). */
  kafkaBrokers?: string[];
  /** PostgreSQL URL. Default from DATABASE_URL. */
  databaseUrl?: string;
  /** Rounds the rows are split into; each round times all three methods back to back. Default 3. */
  rounds?: number;
  /** Writer concurrency (partitions written at the same time). Default: the writer's default. */
  concurrency?: number;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

/** One measured way of storing the rows. */
export interface Measured {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
}

/** The JSON a run returns (and writes to bench/results/writer.json). */
export interface WriterBenchResult {
  bench: 'writer';
  at: string;
  machine: { cpus: number; node: string; loadAverage: number[] };
  rows: number;
  rounds: number;
  bodyBytes: number;
  /** (a) Kafka -> writer -> PostgreSQL, from the writer joining its group to the last row stored (summed over rounds). */
  writer: Measured & {
    produceSeconds: number;
    /** CPU the writer's Node.js process used while draining (kafkajs, decoding, pg); PostgreSQL's is not included. */
    processCpuSeconds: number;
    partitions: number;
    batches: number;
    /** Sum of the batch statements' durations (they overlap when concurrency > 1). */
    statementSeconds: number;
  };
  /** (b) one INSERT per row, sequential on one connection. */
  perRowInsert: Measured;
  /** (c) one binary COPY, encoding included. */
  rawCopy: Measured & { format: 'binary' };
  ratios: { writerVsPerRowInsert: number; writerVsRawCopy: number };
  aims: { atLeast20xPerRow: boolean; atLeastHalfOfCopy: boolean; atLeast30kRowsPerSecond: boolean };
}

const COLUMNS =
  'message_id, client_message_id, sender_id, recipient_id, body, sent_at, kafka_partition, kafka_offset';
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

const measured = (rows: number, seconds: number): Measured => ({
  rows,
  seconds: round(seconds, 3),
  rowsPerSecond: Math.round(rows / seconds),
});

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Chat-like messages: a few hundred users, bodies of 20..180 characters, some non-ASCII. */
function generate(rows: number, tag: string): { messages: ChatMessage[]; senders: string[] } {
  const senders = Array.from({ length: 200 }, (_, i) => `bench-${tag}-${i}`);
  const words = ['hello', 'see you at 6', 'ok 👍', 'meeting moved', 'Grüße', 'lunch?', 'on my way', 'done ✓'];
  const now = Date.now();
  const messages = Array.from({ length: rows }, (_, i) => {
    let body = '';
    const length = 20 + ((i * 37) % 160);
    while (body.length < length) body += `${words[(i + body.length) % words.length]} `;
    return newChatMessage({
      messageId: newMessageId(now + i),
      clientMessageId: `c-${i}`,
      senderId: senders[i % senders.length] as string,
      recipientId: senders[(i * 7 + 1) % senders.length] as string,
      body,
      sentAtMs: now + i,
    });
  });
  return { messages, senders };
}

/** PostgreSQL binary COPY encoding of the rows (header, tuples, trailer), in chunks. */
function* binaryCopy(messages: readonly ChatMessage[], partitions: number): Generator<Buffer> {
  const header = Buffer.alloc(19);
  header.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
  yield header; // flags and extension length stay 0
  const chunk: Buffer[] = [];
  for (const [i, m] of messages.entries()) {
    const texts = [m.messageId, m.clientMessageId, m.senderId, m.recipientId].map((s) =>
      Buffer.from(s, 'utf8'),
    );
    const body = Buffer.from(m.body, 'utf8');
    const size = 2 + texts.reduce((n, t) => n + 4 + t.length, 0) + 4 + body.length + 12 + 8 + 12;
    const tuple = Buffer.alloc(size);
    let at = tuple.writeInt16BE(8, 0);
    for (const t of texts) {
      at = tuple.writeInt32BE(t.length, at);
      at += t.copy(tuple, at);
    }
    at = tuple.writeInt32BE(body.length, at);
    at += body.copy(tuple, at);
    at = tuple.writeInt32BE(8, at);
    at = tuple.writeBigInt64BE(BigInt(msOf(m.sentAt) - PG_EPOCH_MS) * 1000n, at);
    at = tuple.writeInt32BE(4, at);
    at = tuple.writeInt32BE(i % partitions, at);
    at = tuple.writeInt32BE(8, at);
    tuple.writeBigInt64BE(BigInt(i), at);
    chunk.push(tuple);
    if (chunk.length === 1000) yield Buffer.concat(chunk.splice(0));
  }
  chunk.push(Buffer.from([0xff, 0xff]));
  yield Buffer.concat(chunk);
}

async function deleteRows(pool: pg.Pool, senders: readonly string[]): Promise<void> {
  await pool.query('DELETE FROM messages WHERE sender_id = ANY($1::text[])', [senders]);
}

async function countRows(pool: pg.Pool, senders: readonly string[]): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM messages WHERE sender_id = ANY($1::text[])',
    [senders],
  );
  return Number(rows[0]?.n);
}

function check(what: string, stored: number, expected: number): void {
  if (stored !== expected) throw new Error(`${what}: stored ${stored} rows, expected ${expected}`);
}

/** Shared state of one benchmark run. */
interface Run {
  pool: pg.Pool;
  partitions: number;
  kafkaBrokers: string[];
  databaseUrl: string;
  concurrency: number | undefined;
  tag: string;
}

/** What one timed phase returns. */
interface Phase {
  rows: number;
  seconds: number;
  cpuSeconds?: number;
  batches?: number;
  statementSeconds?: number;
}

/** (c) One binary COPY of the rows, encoding included. */
async function timeCopy(run: Run, messages: readonly ChatMessage[]): Promise<Phase> {
  const client = await run.pool.connect();
  try {
    const started = performance.now();
    const copy = client.query(copyFrom(`COPY messages (${COLUMNS}) FROM STDIN (FORMAT binary)`));
    await pipeline(Readable.from(binaryCopy(messages, run.partitions)), copy);
    return { rows: messages.length, seconds: (performance.now() - started) / 1000 };
  } finally {
    client.release();
  }
}

/** (a) A fresh writer drains the topic the rows were produced to, timed from joining its group. */
async function timeWriter(run: Run, topics: Topics, rows: number, round: number): Promise<Phase> {
  const writer = createWriter({
    kafkaBrokers: run.kafkaBrokers,
    databaseUrl: run.databaseUrl,
    topics,
    groupId: `bench-writer-${run.tag}-${round}`,
    createTopics: false,
    ...(run.concurrency ? { concurrency: run.concurrency } : {}),
  });
  await writer.start();
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const written = async () => {
    const metric = await writer.metrics.getSingleMetric('chat_writer_rows_written_total')?.get();
    return metric?.values.find((v) => v.labels.table === 'messages')?.value ?? 0;
  };
  try {
    while ((await written()) < rows) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const batchMetric = await writer.metrics.getSingleMetric('chat_writer_batch_records')?.get();
    const values = (batchMetric?.values ?? []) as { metricName?: string; value: number }[];
    const batches = values.find((v) => v.metricName === 'chat_writer_batch_records_count')?.value ?? 0;
    const insertMetric = await writer.metrics.getSingleMetric('chat_writer_insert_seconds')?.get();
    const inserts = (insertMetric?.values ?? []) as { metricName?: string; value: number }[];
    const statementSeconds =
      inserts.find((v) => v.metricName === 'chat_writer_insert_seconds_sum')?.value ?? 0;
    return { rows, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, batches, statementSeconds };
  } finally {
    await writer.stop();
  }
}

/** (b) One INSERT per row, each awaited before the next, on one connection. */
async function timePerRow(run: Run, messages: readonly ChatMessage[]): Promise<Phase> {
  const client = await run.pool.connect();
  try {
    const text = `INSERT INTO messages (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`;
    const started = performance.now();
    for (const [i, m] of messages.entries()) {
      await client.query({
        name: 'bench-insert-one',
        text,
        values: [
          m.messageId,
          m.clientMessageId,
          m.senderId,
          m.recipientId,
          Buffer.from(m.body, 'utf8'),
          new Date(msOf(m.sentAt)),
          i % run.partitions,
          i,
        ],
      });
    }
    return { rows: messages.length, seconds: (performance.now() - started) / 1000 };
  } finally {
    client.release();
  }
}

const total = (phases: readonly Phase[], key: Exclude<keyof Phase, never>) =>
  phases.reduce((n, p) => n + (p[key] ?? 0), 0);

/**
 * Runs the three measurements on the same generated rows; leaves no rows or topics behind.
 * On a shared machine the load drifts, so the rows are split into rounds and each round times
 * all three methods back to back (in rotating order); rates are totals over the rounds.
 */
export async function runWriterBench(options: WriterBenchOptions = {}): Promise<WriterBenchResult> {
  const common = readCommonConfig();
  const rows = options.rows ?? 100_000;
  const rounds = Math.max(1, Math.min(options.rounds ?? 3, rows));
  const sample = Math.min(rows, options.perRowSample ?? 5000);
  const log = options.log ?? (() => {});
  const tag = randomBytes(4).toString('hex');
  const { messages, senders } = generate(rows, tag);
  const bodyBytes = messages.reduce((n, m) => n + Buffer.byteLength(m.body), 0);
  const database = await openDatabase({
    url: options.databaseUrl ?? common.databaseUrl,
    maxConnections: 2,
    applicationName: 'bench-writer',
  });
  const run: Run = {
    pool: database.pool,
    partitions: options.partitions ?? 6,
    kafkaBrokers: options.kafkaBrokers ?? common.kafkaBrokers,
    databaseUrl: options.databaseUrl ?? common.databaseUrl,
    concurrency: options.concurrency,
    tag,
  };
  const kafka = createKafka({ brokers: run.kafkaBrokers, clientId: `bench-writer-${tag}` });
  const admin = kafka.admin();
  await admin.connect();
  const roundTopics = Array.from({ length: rounds }, (_, r) => uniqueTopics(`bench-${tag}-${r}`));
  const slices = Array.from({ length: rounds }, (_, r) =>
    messages.slice(Math.floor((r * rows) / rounds), Math.floor(((r + 1) * rows) / rounds)),
  );
  try {
    // Produce every round's rows first: the writer is timed draining a backlog.
    const producer = kafka.producer();
    await producer.connect();
    const produceStarted = performance.now();
    for (const [r, slice] of slices.entries()) {
      const topics = roundTopics[r] as Topics;
      await ensureTopics(admin, topics, { messagePartitions: run.partitions, presencePartitions: 1 });
      log(`producing ${slice.length} messages to ${topics.messages}`);
      for (let i = 0; i < slice.length; i += 5000) {
        await producer.send({
          topic: topics.messages,
          acks: -1,
          messages: slice.slice(i, i + 5000).map(chatMessageRecord),
        });
      }
    }
    const produceSeconds = (performance.now() - produceStarted) / 1000;
    await producer.disconnect();

    const copies: Phase[] = [];
    const writers: Phase[] = [];
    const perRows: Phase[] = [];
    for (const [r, slice] of slices.entries()) {
      const sampleRows = slice.slice(0, Math.max(1, Math.floor(sample / rounds)));
      const phases = [
        async () => {
          log(`round ${r + 1}/${rounds}: (c) binary COPY of ${slice.length} rows`);
          copies.push(await timeCopy(run, slice));
          check('raw COPY', await countRows(run.pool, senders), slice.length);
        },
        async () => {
          log(`round ${r + 1}/${rounds}: (a) writer draining ${slice.length} rows`);
          writers.push(await timeWriter(run, roundTopics[r] as Topics, slice.length, r));
          check('writer', await countRows(run.pool, senders), slice.length);
        },
        async () => {
          log(`round ${r + 1}/${rounds}: (b) ${sampleRows.length} single-row INSERTs`);
          perRows.push(await timePerRow(run, sampleRows));
          check('per-row INSERT', await countRows(run.pool, senders), sampleRows.length);
        },
      ];
      for (let k = 0; k < phases.length; k += 1) {
        await (phases[(k + r) % phases.length] as () => Promise<void>)();
        await deleteRows(run.pool, senders);
      }
    }

    const writer = measured(total(writers, 'rows'), total(writers, 'seconds'));
    const perRowInsert = measured(total(perRows, 'rows'), total(perRows, 'seconds'));
    const rawCopy = measured(total(copies, 'rows'), total(copies, 'seconds'));
    return {
      bench: 'writer',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version, loadAverage: loadavg().map((n) => round(n, 2)) },
      rows,
      rounds,
      bodyBytes,
      writer: {
        ...writer,
        produceSeconds: round(produceSeconds, 3),
        processCpuSeconds: round(total(writers, 'cpuSeconds'), 3),
        partitions: run.partitions,
        batches: total(writers, 'batches'),
        statementSeconds: round(total(writers, 'statementSeconds'), 3),
      },
      perRowInsert,
      rawCopy: { ...rawCopy, format: 'binary' },
      ratios: {
        writerVsPerRowInsert: round(writer.rowsPerSecond / perRowInsert.rowsPerSecond, 2),
        writerVsRawCopy: round(writer.rowsPerSecond / rawCopy.rowsPerSecond, 3),
      },
      aims: {
        atLeast20xPerRow: writer.rowsPerSecond >= 20 * perRowInsert.rowsPerSecond,
        atLeastHalfOfCopy: writer.rowsPerSecond >= 0.5 * rawCopy.rowsPerSecond,
        atLeast30kRowsPerSecond: writer.rowsPerSecond >= 30_000,
      },
    };
  } finally {
    await deleteRows(run.pool, senders).catch(() => {});
    const all = roundTopics.flatMap((t) => [t.messages, t.presence]);
    await admin.deleteTopics({ topics: all }).catch(() => {});
    await admin.disconnect();
    await database.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2] ?? 100_000);
  const concurrency = process.argv[3] ? Number(process.argv[3]) : undefined;
  const result = await runWriterBench({ rows, concurrency, log: (line) => console.error(line) });
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'writer.json');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
}
