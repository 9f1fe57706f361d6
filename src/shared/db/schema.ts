/**
 * The PostgreSQL schema as kysely types. The tables are created by the migrations in
 * migrations.ts; this interface is what queries are checked against.
 */
import type { ColumnType, Generated } from 'kysely';

/** One stored chat message; written only by the writer. */
export interface MessagesTable {
  /** ULID; primary key (collation "C" so it sorts by time). */
  message_id: string;
  client_message_id: string;
  sender_id: string;
  recipient_id: string;
  /** The UTF-8 bytes of the body, byte for byte (text cannot hold U+0000). */
  body: Buffer;
  sent_at: ColumnType<Date, Date, never>;
  kafka_partition: number;
  kafka_offset: ColumnType<string, string | number | bigint, never>;
  stored_at: ColumnType<Date, never, never>;
}

/** Each user's read cursor; only ever moves forward. */
export interface ReadStateTable {
  user_id: string;
  last_read_at: Date;
  updated_at: ColumnType<Date, never, Date>;
}

/** Records the writer could not decode, kept for inspection instead of blocking a partition. */
export interface DeadLettersTable {
  id: Generated<string>;
  topic: string;
  kafka_partition: number;
  kafka_offset: string;
  record_key: Buffer | null;
  record_value: Buffer | null;
  error: string;
  created_at: ColumnType<Date, never, never>;
}

/** The whole database, for `Kysely<Database>`. */
export interface Database {
  messages: MessagesTable;
  read_state: ReadStateTable;
  dead_letters: DeadLettersTable;
}
