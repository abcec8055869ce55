import { Migrator, type Kysely } from 'kysely';
import { migrations } from './migrations/index.ts';

/**
 * Applies every pending migration. Safe when several nodes start at once: Kysely's migrator
 * takes a lock (a row lock on PostgreSQL, the write lock on SQLite) around the whole run.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Kysely instance may be migrated
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // Modules land their migrations independently; a database may have seen 0005 before 0004.
    allowUnorderedMigrations: true,
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
