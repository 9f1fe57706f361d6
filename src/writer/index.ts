/**
 * The writer service: persists chat.messages and read cursors from Kafka into PostgreSQL in
 * set-based batches, committing Kafka offsets only after the rows are durably stored.
 */
export {
  createWriter,
  DEFAULT_WRITER_CONCURRENCY,
  DEFAULT_WRITER_FETCH_MAX_WAIT_MS,
  DEFAULT_WRITER_FETCH_MIN_BYTES,
  DEFAULT_WRITER_GROUP,
  type Writer,
  type WriterOptions,
} from './writer.js';
