import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createStore, type Engine, type Store } from '../../src/store/create-db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';

/** Every storage-backed suite runs once per engine (Kysely's DIALECTS loop). */
export const ENGINES: Engine[] = inject('postgresUrl') ? ['sqlite', 'postgres'] : ['sqlite'];

export const redisUrl = (): string | null => inject('redisUrl');

export interface TestDatabase {
  url: string;
  engine: Engine;
  dir: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a new SQLite file, or a new PostgreSQL database. */
export function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  return newDatabase(engine, null);
}

/**
 * A fresh database with every migration applied: a copy of this run's migrated template
 * (global-setup.ts migrates it once), which saves a migration per test (~0.1 s on PostgreSQL).
 * The copy is the test's own; running `migrateToLatest` on it finds nothing left to do.
 */
export function createMigratedTestDatabase(engine: Engine): Promise<TestDatabase> {
  const template = engine === 'sqlite' ? inject('sqliteTemplate') : inject('postgresTemplate');
  return newDatabase(engine, template);
}

async function newDatabase(engine: Engine, template: string | null): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-test-'));
  if (engine === 'sqlite') {
    const file = join(dir, 'keyplane.db');
    if (template) copyFileSync(template, file);
    return {
      url: `sqlite:${file}`,
      engine,
      dir,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const admin = inject('postgresUrl');
  if (!admin) throw new Error('no PostgreSQL for this run');
  const name = `kp_test_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  await c.end();
  const url = admin.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    engine,
    dir,
    drop: async () => {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A migrated store on a fresh database; `close` drops it. */
export async function createTestStore(
  engine: Engine,
): Promise<{ store: Store; database: TestDatabase; close(): Promise<void> }> {
  const database = await createMigratedTestDatabase(engine);
  const store = createStore(database.url);
  await migrateToLatest(store.db);
  return {
    store,
    database,
    close: async () => {
      await store.close();
      await database.drop();
    },
  };
}
