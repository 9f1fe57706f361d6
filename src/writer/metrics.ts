/** The writer's Prometheus metrics. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../shared/metrics.js';

/** Records per Kafka batch. */
const BATCH_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000];

/** Metrics of one writer, registered on its registry. */
export interface WriterMetrics {
  /** Rows inserted into messages / moved forward in read_state; replays and duplicates are not counted. */
  rowsWritten: Counter<'table'>;
  /** Kafka records per batch handed to the database. */
  batchSize: Histogram<'topic_kind'>;
  /** Duration of one batch statement, seconds (successful attempts only). */
  insertSeconds: Histogram<'topic_kind'>;
  /** Records on the partition after the last stored batch (high watermark - next offset). */
  consumerLag: Gauge<'topic' | 'partition'>;
  /** Records stored in dead_letters. */
  deadLetters: Counter<'topic'>;
  /** Failed batch statements that will be retried (database down or slow). */
  databaseErrors: Counter;
}

/** Creates and registers the writer metrics. */
export function createWriterMetrics(registry: Registry): WriterMetrics {
  const registers = [registry];
  return {
    rowsWritten: new Counter({
      name: 'chat_writer_rows_written_total',
      help: 'Rows written to PostgreSQL (messages inserted, read cursors moved forward)',
      labelNames: ['table'],
      registers,
    }),
    batchSize: new Histogram({
      name: 'chat_writer_batch_records',
      help: 'Kafka records per batch written in one statement',
      labelNames: ['topic_kind'],
      buckets: BATCH_BUCKETS,
      registers,
    }),
    insertSeconds: new Histogram({
      name: 'chat_writer_insert_seconds',
      help: 'Duration of one batch statement',
      labelNames: ['topic_kind'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    consumerLag: new Gauge({
      name: 'chat_writer_consumer_lag',
      help: 'Records not yet stored per partition, as of the last stored batch',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'chat_writer_dead_letters_total',
      help: 'Records that could not be stored and went to dead_letters',
      labelNames: ['topic'],
      registers,
    }),
    databaseErrors: new Counter({
      name: 'chat_writer_database_errors_total',
      help: 'Batch statements that failed and are retried with backoff',
      registers,
    }),
  };
}
