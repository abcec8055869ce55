import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createStore } from '../../src/store/create-db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';

export interface DatabaseTemplates {
  /** A migrated SQLite file that tests copy. */
  sqlite: string;
  /** A migrated PostgreSQL database that tests clone (`CREATE DATABASE … TEMPLATE`), or null. */
  postgres: string | null;
  remove(): Promise<void>;
}

async function migrate(url: string): Promise<void> {
  const store = createStore(url);
  try {
    await migrateToLatest(store.db);
  } finally {
    await store.close();
  }
}

async function admin(url: string, query: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

/**
 * Once per run (global-setup.ts): one database per engine with every migration applied, closed,
 * so each test's database is a copy instead of a fresh migration. No connection stays open on
 * the PostgreSQL template (a clone needs it idle).
 */
export async function createDatabaseTemplates(
  postgresUrl: string | null,
): Promise<DatabaseTemplates> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-template-'));
  const sqlite = join(dir, 'keyplane.db');
  await migrate(`sqlite:${sqlite}`);
  let postgres: string | null = null;
  if (postgresUrl) {
    postgres = `kp_template_${randomBytes(6).toString('hex')}`;
    await admin(postgresUrl, `CREATE DATABASE ${postgres}`);
    await migrate(postgresUrl.replace(/\/[^/]*$/, `/${postgres}`));
  }
  return {
    sqlite,
    postgres,
    remove: async () => {
      rmSync(dir, { recursive: true, force: true });
      if (postgresUrl && postgres) {
        await admin(postgresUrl, `DROP DATABASE IF EXISTS ${postgres} WITH (FORCE)`).catch(
          () => undefined,
        );
      }
    },
  };
}
