/**
 * Connecting to PostgreSQL: a pg pool wrapped in kysely, migrated on open.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';

// bigint columns (offsets, ids) come back as strings unless told otherwise; keep strings.
// timestamptz comes back as Date (pg default).

/** Options of {@link openDatabase}. */
export interface DatabaseOptions {
  /** postgres:// URL. */
  url: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /** Run migrations before returning. Default true. */
  migrate?: boolean;
  /** Name shown in pg_stat_activity. Default "chat". */
  applicationName?: string;
  /** Connection timeout in ms. Default 5000. */
  connectionTimeoutMs?: number;
}

/** An open database: the kysely instance and the pool under it. */
export interface OpenDatabase {
  db: Kysely<Database>;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Opens (and by default migrates) the database. */
export async function openDatabase(options: DatabaseOptions): Promise<OpenDatabase> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'chat',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
  });
  // An idle client's error (server restart) must not crash the process; the pool drops it.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await db.destroy();
  };
  try {
    await sql`select 1`.execute(db);
    if (options.migrate ?? true) await migrateToLatest(db as Kysely<unknown>);
  } catch (err) {
    await close();
    throw err;
  }
  return { db, pool, close };
}
