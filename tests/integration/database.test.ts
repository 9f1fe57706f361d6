/** Migrations against the real PostgreSQL: idempotent, concurrent-safe, and the schema is usable. */
import { sql } from 'kysely';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openDatabase } from '../../src/shared/db/database.js';
import { infra } from '../helpers/infra.js';

describe('database', () => {
  it('migrates concurrently and idempotently', async () => {
    const [a, b] = await Promise.all([
      openDatabase({ url: infra().databaseUrl }),
      openDatabase({ url: infra().databaseUrl }),
    ]);
    onTestFinished(async () => {
      await a.close();
      await b.close();
    });
    const again = await openDatabase({ url: infra().databaseUrl });
    await again.close();
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = current_schema()`.execute(a.db);
    const names = tables.rows.map((r) => r.table_name);
    expect(names).toEqual(expect.arrayContaining(['messages', 'read_state', 'dead_letters']));
  });

  it('reports an unreachable database clearly', async () => {
    await expect(
      openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMs: 1000 }),
    ).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});
