/**
 * Writer benchmark: the same generated chat messages stored three ways, in one run.
 *   (a) through the writer: produced to Kafka first, then timed while a fresh writer drains them
 *       into PostgreSQL (one unnest statement per Kafka batch, offsets committed after each);
 *   (b) the old design: one INSERT per message, awaited one after another on one connection
 *       (on a sample; the rate is what matters);
 *   (c) the raw ceiling: one binary COPY of the same rows straight into the messages table.
 * Run directly (`tsx bench/writer.ts [rows]`, default 100,000) it writes bench/results/writer.json.
 * Needs Kafka and PostgreSQL (KAFKA_BROKERS, DATABASE_URL; `npm run infra:up`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
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
import { ensureTopics, uniqueTopics } from '../src/shared/topics.js';
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
  machine: { cpus: number; node: string };
  rows: number;
  bodyBytes: number;
  /** (a) Kafka -> writer -> PostgreSQL, from the writer joining its group to the last row stored. */
  writer: Measured & {
    produceSeconds: number;
    startSeconds: number;
    /** CPU the writer's Node.js process used while draining (kafkajs, decoding, pg); PostgreSQL's is not included. */
    processCpuSeconds: number;
    partitions: number;
    batches: number;
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

/** Runs the three measurements on the same generated rows; leaves no rows or topics behind. */
export async function runWriterBench(options: WriterBenchOptions = {}): Promise<WriterBenchResult> {
  const common = readCommonConfig();
  const rows = options.rows ?? 100_000;
  const sample = Math.min(rows, options.perRowSample ?? 5000);
  const partitions = options.partitions ?? 6;
  const kafkaBrokers = options.kafkaBrokers ?? common.kafkaBrokers;
  const databaseUrl = options.databaseUrl ?? common.databaseUrl;
  const log = options.log ?? (() => {});
  const tag = randomBytes(4).toString('hex');
  const { messages, senders } = generate(rows, tag);
  const bodyBytes = messages.reduce((n, m) => n + Buffer.byteLength(m.body), 0);
  const database = await openDatabase({
    url: databaseUrl,
    maxConnections: 2,
    applicationName: 'bench-writer',
  });
  const { pool } = database;
  const topics = uniqueTopics(`bench-${tag}`);
  const kafka = createKafka({ brokers: kafkaBrokers, clientId: `bench-writer-${tag}` });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topics, { messagePartitions: partitions, presencePartitions: 1 });

    log(`producing ${rows} messages to ${topics.messages}`);
    const producer = kafka.producer();
    await producer.connect();
    let started = performance.now();
    for (let i = 0; i < rows; i += 5000) {
      await producer.send({
        topic: topics.messages,
        acks: -1,
        messages: messages.slice(i, i + 5000).map(chatMessageRecord),
      });
    }
    const produceSeconds = (performance.now() - started) / 1000;
    await producer.disconnect();

    log('(c) binary COPY');
    const client = await pool.connect();
    let rawCopy: WriterBenchResult['rawCopy'];
    try {
      started = performance.now();
      const copy = client.query(copyFrom(`COPY messages (${COLUMNS}) FROM STDIN (FORMAT binary)`));
      await pipeline(Readable.from(binaryCopy(messages, partitions)), copy);
      rawCopy = { ...measured(rows, (performance.now() - started) / 1000), format: 'binary' };
    } finally {
      client.release();
    }
    check('raw COPY', await countRows(pool, senders), rows);
    await deleteRows(pool, senders);

    log('(a) writer');
    const writer = createWriter({
      kafkaBrokers,
      databaseUrl,
      topics,
      groupId: `bench-writer-${tag}`,
      createTopics: false,
    });
    started = performance.now();
    await writer.start();
    const joined = performance.now();
    const cpuBefore = process.cpuUsage();
    const startSeconds = (joined - started) / 1000;
    const written = async () => {
      const metric = await writer.metrics.getSingleMetric('chat_writer_rows_written_total')?.get();
      return metric?.values.find((v) => v.labels.table === 'messages')?.value ?? 0;
    };
    let writerSeconds: number;
    let writerCpuSeconds: number;
    let batches: number;
    try {
      while ((await written()) < rows) await new Promise((r) => setTimeout(r, 5));
      writerSeconds = (performance.now() - joined) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      writerCpuSeconds = (cpu.user + cpu.system) / 1e6;
      const batchMetric = await writer.metrics.getSingleMetric('chat_writer_batch_records')?.get();
      const values = (batchMetric?.values ?? []) as { metricName?: string; value: number }[];
      batches = values.find((v) => v.metricName === 'chat_writer_batch_records_count')?.value ?? 0;
    } finally {
      await writer.stop();
    }
    check('writer', await countRows(pool, senders), rows);
    await deleteRows(pool, senders);

    log(`(b) one INSERT per row, ${sample} rows`);
    const one = await pool.connect();
    let perRowInsert: Measured;
    try {
      const text = `INSERT INTO messages (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`;
      started = performance.now();
      for (let i = 0; i < sample; i += 1) {
        const m = messages[i] as ChatMessage;
        await one.query({
          name: 'bench-insert-one',
          text,
          values: [
            m.messageId,
            m.clientMessageId,
            m.senderId,
            m.recipientId,
            Buffer.from(m.body, 'utf8'),
            new Date(msOf(m.sentAt)),
            i % partitions,
            i,
          ],
        });
      }
      perRowInsert = measured(sample, (performance.now() - started) / 1000);
    } finally {
      one.release();
    }
    check('per-row INSERT', await countRows(pool, senders), sample);

    const writerMeasured = measured(rows, writerSeconds);
    const result: WriterBenchResult = {
      bench: 'writer',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      rows,
      bodyBytes,
      writer: {
        ...writerMeasured,
        produceSeconds: round(produceSeconds, 3),
        startSeconds: round(startSeconds, 3),
        processCpuSeconds: round(writerCpuSeconds, 3),
        partitions,
        batches,
      },
      perRowInsert,
      rawCopy,
      ratios: {
        writerVsPerRowInsert: round(writerMeasured.rowsPerSecond / perRowInsert.rowsPerSecond, 2),
        writerVsRawCopy: round(writerMeasured.rowsPerSecond / rawCopy.rowsPerSecond, 3),
      },
      aims: {
        atLeast20xPerRow: writerMeasured.rowsPerSecond >= 20 * perRowInsert.rowsPerSecond,
        atLeastHalfOfCopy: writerMeasured.rowsPerSecond >= 0.5 * rawCopy.rowsPerSecond,
        atLeast30kRowsPerSecond: writerMeasured.rowsPerSecond >= 30_000,
      },
    };
    return result;
  } finally {
    await deleteRows(pool, senders).catch(() => {});
    await admin.deleteTopics({ topics: [topics.messages, topics.presence] }).catch(() => {});
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
