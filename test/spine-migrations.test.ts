import { sql } from 'kysely';
import { describe, expect, it, vi } from 'vitest';
import { createStore } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { migrations } from '../src/store/migrations/index.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { runKeyplane } from './support/keyplane-process.ts';
import { createTestDatabase, ENGINES } from './support/stores.ts';

// Each test spawns keyplane a few times; on a busy machine that alone takes seconds.
vi.setConfig({ testTimeout: 120_000 });

const ALL = Object.keys(migrations).sort();

async function appliedNames(url: string): Promise<string[]> {
  const store = createStore(url);
  try {
    const { rows } = await sql<{
      name: string;
    }>`select name from kysely_migration order by name`.execute(store.db);
    return rows.map((r) => r.name);
  } finally {
    await store.close();
  }
}

describe.each(ENGINES)('migrations on %s', (engine) => {
  it('keyplane migrate applies everything once, then is a no-op', async () => {
    const db = await createTestDatabase(engine);
    const env = { KEYPLANE_DATABASE_URL: db.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    try {
      const first = await runKeyplaneInProcess(['migrate', '--json'], { env });
      expect(first.code, first.stderr).toBe(0);
      const out = JSON.parse(first.stdout);
      expect(out.applied).toEqual(ALL);
      expect(out.store).not.toMatch(/:[^:@/]+@/); // no password in what it prints

      const second = await runKeyplaneInProcess(['migrate', '--json'], { env });
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout).applied).toEqual([]);
      const human = await runKeyplaneInProcess(['migrate'], { env });
      expect(human.stdout).toContain('is up to date');

      expect(await appliedNames(db.url)).toEqual(ALL);
    } finally {
      await db.drop();
    }
  });

  it('two migrators at once on one fresh database both succeed, applying each migration once', async () => {
    const db = await createTestDatabase(engine);
    const a = createStore(db.url);
    const b = createStore(db.url);
    try {
      const [ra, rb] = await Promise.all([migrateToLatest(a.db), migrateToLatest(b.db)]);
      // Between them, every migration ran exactly once.
      expect([...ra, ...rb].sort()).toEqual(ALL);
      expect(await appliedNames(db.url)).toEqual(ALL);
      // The schema is there and usable from both.
      const head = await a.db.selectFrom('audit_head').selectAll().execute();
      expect(head).toHaveLength(1);
      expect(await migrateToLatest(b.db)).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });

  it('two keyplane migrate processes at once both exit 0', async () => {
    const db = await createTestDatabase(engine);
    const env = { KEYPLANE_DATABASE_URL: db.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    try {
      const results = await Promise.all([
        runKeyplane(['migrate', '--json'], { env }),
        runKeyplane(['migrate', '--json'], { env }),
      ]);
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const applied = results.flatMap((r) => JSON.parse(r.stdout).applied as string[]);
      expect(applied.sort()).toEqual(ALL);
      expect(await appliedNames(db.url)).toEqual(ALL);
    } finally {
      await db.drop();
    }
  });
});

describe('migration set', () => {
  it('is one ordered set of numbered files', () => {
    for (const name of ALL) expect(name).toMatch(/^\d{4}-[a-z0-9-]+$/);
    expect(ALL[0]).toBe('0001-spine');
  });
});
