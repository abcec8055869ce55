import { Migrator, SqliteAdapter, sql, type Kysely } from 'kysely';
import { migrations } from './migrations/index.ts';

/**
 * Applies every pending migration. Safe when several nodes start at once:
 * - PostgreSQL: Kysely's migrator holds an advisory lock around the whole run;
 * - SQLite: Kysely takes no lock there, and two deferred transactions that both read "nothing
 *   applied yet" then both create the tables (the second fails). So the run happens inside
 *   `BEGIN IMMEDIATE`: the write lock is taken before anything is read, the other process waits
 *   (busy_timeout), then finds everything applied.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Kysely instance may be migrated
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    return db.connection().execute(async (conn) => {
      await beginImmediate(conn);
      try {
        const applied = await run(conn, true);
        await sql`commit`.execute(conn);
        return applied;
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw err;
      }
    });
  }
  return run(db, false);
}

/**
 * `BEGIN IMMEDIATE`, waiting for another writer without blocking the event loop: better-sqlite3
 * waits for a lock synchronously (busy_timeout), which would stall a second connection in the
 * same process that holds the lock between awaits. So: no busy wait, async retries instead.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Kysely instance may be migrated
async function beginImmediate(conn: Kysely<any>, timeoutMs = 30_000): Promise<void> {
  const { rows } = await sql<{ timeout: number }>`pragma busy_timeout`.execute(conn);
  const previous = Number(rows[0]?.timeout ?? 0);
  await sql`pragma busy_timeout = 0`.execute(conn);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await sql`begin immediate`.execute(conn);
        return;
      } catch (err) {
        const code = String((err as { code?: unknown }).code ?? '');
        if (!code.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
      }
    }
  } finally {
    await sql.raw(`pragma busy_timeout = ${previous}`).execute(conn);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Kysely instance may be migrated
async function run(db: Kysely<any>, inTransaction: boolean): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // Modules land their migrations independently; a database may have seen 0005 before 0004.
    allowUnorderedMigrations: true,
    // On SQLite the caller already holds an immediate transaction around the whole run.
    disableTransactions: inTransaction,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(
      `migration ${failed?.migrationName ?? '?'} failed: ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
