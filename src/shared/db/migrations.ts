/**
 * Schema migrations, run at start-up by every process that touches PostgreSQL. kysely's
 * Migrator takes a lock, so concurrent start-ups are safe, and applied migrations are skipped.
 */
import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { ChatBackendError } from '../errors.js';

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('messages')
        .ifNotExists()
        .addColumn('message_id', sql`text collate "C"`, (c) => c.primaryKey())
        .addColumn('client_message_id', 'text', (c) => c.notNull())
        .addColumn('sender_id', 'text', (c) => c.notNull())
        .addColumn('recipient_id', 'text', (c) => c.notNull())
        .addColumn('body', 'bytea', (c) => c.notNull())
        .addColumn('sent_at', sql`timestamptz(3)`, (c) => c.notNull())
        .addColumn('kafka_partition', 'integer', (c) => c.notNull())
        .addColumn('kafka_offset', 'bigint', (c) => c.notNull())
        .addColumn('stored_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('messages_sender_client_message_id_key', ['sender_id', 'client_message_id'])
        .execute();
      // Catch-up reads "messages to me (or from me) after a time, in time order", keyset-paged.
      await db.schema
        .createIndex('messages_recipient_time_idx')
        .ifNotExists()
        .on('messages')
        .columns(['recipient_id', 'sent_at', 'message_id'])
        .execute();
      await db.schema
        .createIndex('messages_sender_time_idx')
        .ifNotExists()
        .on('messages')
        .columns(['sender_id', 'sent_at', 'message_id'])
        .execute();
      await db.schema
        .createTable('read_state')
        .ifNotExists()
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('last_read_at', sql`timestamptz(3)`, (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('dead_letters')
        .ifNotExists()
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('kafka_partition', 'integer', (c) => c.notNull())
        .addColumn('kafka_offset', 'bigint', (c) => c.notNull())
        .addColumn('record_key', 'bytea')
        .addColumn('record_value', 'bytea')
        .addColumn('error', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addUniqueConstraint('dead_letters_position_key', ['topic', 'kafka_partition', 'kafka_offset'])
        .execute();
    },
  },
};

const provider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};

/** Applies every pending migration; throws CHAT_ERR_UNAVAILABLE naming the failed one. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new ChatBackendError('CHAT_ERR_UNAVAILABLE', `database migration ${failed} failed`, {
      cause: error,
    });
  }
}
