/**
 * The writer's SQL: each Kafka batch is ONE statement, hence one round trip and one atomic
 * transaction (a single statement in autocommit mode is its own transaction). Rows travel as
 * a handful of array parameters unnested server-side, so a batch of any size binds the same
 * ~13 parameters (no VALUES list, no bind-parameter limit). The dead letters of the batch are
 * stored by the same statement, so "stored" covers every record of the batch at once.
 */
import type pg from 'pg';
import type { DeadLetter, MessageBatch, MessageRow, PresenceBatch } from './records.js';

/** The part of a pg pool the store uses. */
export interface StorePool {
  connect(): Promise<pg.PoolClient>;
}

/** What one statement stored. */
export interface StoreResult {
  /** Rows inserted (messages) or moved forward (read_state); duplicates are not counted. */
  stored: number;
  /** Dead letters inserted. */
  deadLetters: number;
}

const DEAD_LETTERS_CTE = `dead AS (
  INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, record_key, record_value, error)
  SELECT $1::text, $2::int, d.kafka_offset, d.record_key, d.record_value, d.error
  FROM unnest($3::bigint[], $4::bytea[], $5::bytea[], $6::text[])
    AS d(kafka_offset, record_key, record_value, error)
  ON CONFLICT DO NOTHING
  RETURNING 1
)`;

const COUNTS = `SELECT (SELECT count(*) FROM stored)::int AS stored, (SELECT count(*) FROM dead)::int AS dead`;

// With ON CONFLICT DO NOTHING (no target) a row that is already stored is skipped, whether it
// repeats the primary key (a replayed record) or (sender_id, client_message_id) (a producer
// retry under a new message_id), also between two rows of the same batch. That clause costs
// about a third more per row (arbiter index probes, speculative insertion), so the writer first
// sends the plain INSERT and only when it fails with unique_violation re-sends the batch with
// the clause; see BatchStore.storeMessages. Times travel as integer ms and are converted exactly.
//
// Columns travel as one delimited string each, split server-side: ids cannot contain control
// characters (validated in records.ts), so U+001F separates them safely, and every body goes in
// one binary bytea parameter sliced by (start, length). This costs a fraction of the CPU of
// pg's array literals (quoting every element, hex-encoding every body) on both sides.
const insertMessages = (skipStored: boolean) => `WITH ${DEAD_LETTERS_CTE}, stored AS (
  INSERT INTO messages
    (message_id, client_message_id, sender_id, recipient_id, body, sent_at, kafka_partition, kafka_offset)
  SELECT u.message_id, u.client_message_id, u.sender_id, u.recipient_id,
    substring($11::bytea FROM u.body_start FOR u.body_length),
    'epoch'::timestamptz + u.sent_ms * interval '1 millisecond', $2::int, u.kafka_offset
  FROM unnest(
    string_to_array($7::text, E'\\x1f'), string_to_array($8::text, E'\\x1f'),
    string_to_array($9::text, E'\\x1f'), string_to_array($10::text, E'\\x1f'),
    string_to_array($12::text, ',')::int[], string_to_array($13::text, ',')::int[],
    string_to_array($14::text, ',')::bigint[], string_to_array($15::text, ',')::bigint[]
  ) AS u(message_id, client_message_id, sender_id, recipient_id, body_start, body_length, sent_ms, kafka_offset)
  ${skipStored ? 'ON CONFLICT DO NOTHING' : ''}
  RETURNING 1
) ${COUNTS}`;

/** The plain INSERT: fails with unique_violation when any row is already stored. */
const INSERT_MESSAGES = insertMessages(false);
/** The INSERT that skips rows already stored. */
const INSERT_NEW_MESSAGES = insertMessages(true);

const UNIQUE_VIOLATION = '23505';

/** Separator of id lists; ids never contain control characters. */
const ID_SEPARATOR = '\x1f';

/** The parameters $7..$15 of the message INSERTs. */
function messageParams(rows: readonly MessageRow[]): unknown[] {
  const starts: number[] = [];
  const lengths: number[] = [];
  let at = 1; // substring() counts from 1
  for (const row of rows) {
    starts.push(at);
    lengths.push(row.body.length);
    at += row.body.length;
  }
  return [
    rows.map((r) => r.messageId).join(ID_SEPARATOR),
    rows.map((r) => r.clientMessageId).join(ID_SEPARATOR),
    rows.map((r) => r.senderId).join(ID_SEPARATOR),
    rows.map((r) => r.recipientId).join(ID_SEPARATOR),
    Buffer.concat(
      rows.map((r) => r.body),
      at - 1,
    ),
    starts.join(','),
    lengths.join(','),
    rows.map((r) => r.sentAtMs).join(','),
    rows.map((r) => r.offset).join(','),
  ];
}

// A cursor only moves forward: an older or equal value leaves the row untouched.
const UPSERT_READ_STATE = `WITH ${DEAD_LETTERS_CTE}, stored AS (
  INSERT INTO read_state AS r (user_id, last_read_at)
  SELECT u.user_id, 'epoch'::timestamptz + u.ms * interval '1 millisecond'
  FROM unnest($7::text[], $8::bigint[]) AS u(user_id, ms)
  ON CONFLICT (user_id) DO UPDATE SET last_read_at = excluded.last_read_at, updated_at = now()
  WHERE r.last_read_at < excluded.last_read_at
  RETURNING 1
) ${COUNTS}`;

/**
 * True for an error caused by the data of the statement (SQLSTATE classes 22 data exception,
 * 23 integrity violation, 54 limit exceeded): retrying the same rows can never succeed.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

// A SQL error leaves the connection usable; anything else (timeout, reset) may not.
function isServerError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

function deadLetterParams(topic: string, partition: number, deadLetters: readonly DeadLetter[]): unknown[] {
  return [
    topic,
    partition,
    deadLetters.map((d) => d.offset),
    deadLetters.map((d) => d.key),
    deadLetters.map((d) => d.value),
    deadLetters.map((d) => d.error),
  ];
}

/** Stores writer batches through a pg pool. */
export class BatchStore {
  readonly #pool: StorePool;
  readonly #queryTimeoutMs: number;
  /** "topic/partition" whose last batch held rows already stored (a replay): skip the plain INSERT. */
  readonly #replaying = new Set<string>();

  /** @param queryTimeoutMs how long one statement may take before its connection is dropped and the batch retried */
  constructor(pool: StorePool, queryTimeoutMs: number) {
    this.#pool = pool;
    this.#queryTimeoutMs = queryTimeoutMs;
  }

  /**
   * Inserts a batch of messages and its dead letters in one statement (two when the batch holds
   * rows already stored, the second skipping them). A row the database refuses (a data error)
   * is isolated by halving the batch and becomes a dead letter itself.
   */
  async storeMessages(topic: string, partition: number, batch: MessageBatch): Promise<StoreResult> {
    const { rows, deadLetters } = batch;
    try {
      return await this.#insertMessages(
        topic,
        partition,
        [...deadLetterParams(topic, partition, deadLetters), ...messageParams(rows)],
        rows.length,
      );
    } catch (err) {
      if (!isDataError(err) || rows.length === 0) throw err;
      if (rows.length === 1) {
        const row = rows[0] as MessageRow;
        const dead = {
          offset: row.offset,
          key: row.key,
          value: row.value,
          error: `refused by PostgreSQL: ${String(err)}`,
        };
        return this.storeMessages(topic, partition, { rows: [], deadLetters: [...deadLetters, dead] });
      }
      const half = Math.ceil(rows.length / 2);
      const first = await this.storeMessages(topic, partition, { rows: rows.slice(0, half), deadLetters });
      const second = await this.storeMessages(topic, partition, { rows: rows.slice(half), deadLetters: [] });
      return { stored: first.stored + second.stored, deadLetters: first.deadLetters + second.deadLetters };
    }
  }

  async #insertMessages(
    topic: string,
    partition: number,
    params: unknown[],
    rows: number,
  ): Promise<StoreResult> {
    const key = `${topic}/${partition}`;
    if (!this.#replaying.has(key)) {
      try {
        return await this.#counts(INSERT_MESSAGES, params);
      } catch (err) {
        if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION) throw err;
      }
    }
    const result = await this.#counts(INSERT_NEW_MESSAGES, params);
    // Replays come in runs (a restart re-reads everything since the last commit): keep skipping
    // until a batch is all new again.
    if (result.stored < rows) this.#replaying.add(key);
    else this.#replaying.delete(key);
    return result;
  }

  /** Moves read cursors forward and stores the batch's dead letters, in one statement. */
  storeReadState(topic: string, partition: number, batch: PresenceBatch): Promise<StoreResult> {
    return this.#counts(UPSERT_READ_STATE, [
      ...deadLetterParams(topic, partition, batch.deadLetters),
      batch.cursors.map((c) => c.userId),
      batch.cursors.map((c) => c.lastReadMs),
    ]);
  }

  /** Throws when the database does not answer. */
  async ping(): Promise<void> {
    await this.#query('SELECT 1', []);
  }

  /** The session's synchronous_commit setting. */
  async synchronousCommit(): Promise<string> {
    const rows = await this.#query<{ synchronous_commit: string }>('SHOW synchronous_commit', []);
    return rows[0]?.synchronous_commit ?? '';
  }

  async #counts(text: string, values: unknown[]): Promise<StoreResult> {
    const rows = await this.#query<{ stored: number; dead: number }>(text, values);
    return { stored: rows[0]?.stored ?? 0, deadLetters: rows[0]?.dead ?? 0 };
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    const client = await this.#pool.connect();
    // A connection that breaks while checked out (between queries, or a second error after
    // the first) emits 'error' on the client; without a listener that would end the process.
    client.on('error', ignore);
    try {
      const config = { text, values, query_timeout: this.#queryTimeoutMs } as pg.QueryConfig;
      const result = await client.query<R>(config);
      client.off('error', ignore);
      client.release();
      return result.rows;
    } catch (err) {
      client.off('error', ignore);
      // Drop a connection that timed out or broke; a plain SQL error leaves it reusable.
      client.release(isServerError(err) ? undefined : true);
      throw err;
    }
  }
}

function ignore(): void {}
