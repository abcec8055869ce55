import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createAuditService } from '../src/audit/audit-service.ts';
import { createAuditStore } from '../src/audit/audit-store.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createStore, type Engine, type Store } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { TEST_MASTER_KEY, testWorker } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';

/**
 * The audit log (SPEC §6) through `keyplane audit`: listing and filters, and `audit verify`
 * against raw-SQL tampering of every kind, on both engines.
 */
interface Chain {
  database: TestDatabase;
  store: Store;
  env: Record<string, string>;
  close(): Promise<void>;
}

async function chainOf(engine: Engine, n: number): Promise<Chain> {
  const database = await createTestDatabase(engine);
  const store = createStore(database.url);
  await migrateToLatest(store.db);
  const audit = createAuditService({ auditStore: createAuditStore(store.db), clock: systemClock });
  for (let i = 1; i <= n; i++) {
    await audit.record({
      actor: { type: 'admin', id: 'adm_1', ip: '10.0.0.1' },
      action: i % 2 ? 'client.created' : 'key.revoked',
      targetType: i % 2 ? 'client' : 'key',
      targetId: `t${i}`,
      clientId: i <= 3 ? 'client_a' : 'client_b',
      data: { n: i },
    });
  }
  return {
    database,
    store,
    env: { KEYPLANE_DATABASE_URL: database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY },
    close: async () => {
      await store.close();
      await database.drop();
    },
  };
}

async function verify(env: Record<string, string>) {
  const human = await runKeyplaneInProcess(['audit', 'verify'], { env });
  const json = await runKeyplaneInProcess(['audit', 'verify', '--json'], { env });
  return { human, json: JSON.parse(json.stdout), jsonCode: json.code };
}

describe.each(ENGINES)('keyplane audit on %s', (engine) => {
  it('lists newest first with client, action and target filters, and verifies an intact chain', async () => {
    const c = await chainOf(engine, 6);
    try {
      const all = await runKeyplaneInProcess(['audit', '--json'], { env: c.env });
      expect(all.code, all.stderr).toBe(0);
      const page = JSON.parse(all.stdout);
      expect(page.data.map((e: { seq: number }) => e.seq)).toEqual([6, 5, 4, 3, 2, 1]);
      expect(page.nextCursor).toBeNull();
      expect(page.data[0]).toMatchObject({
        action: 'key.revoked',
        actorType: 'admin',
        actorId: 'adm_1',
        ip: '10.0.0.1',
        clientId: 'client_b',
        data: { n: 6 },
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      });

      const byClient = JSON.parse(
        (await runKeyplaneInProcess(['audit', '--client', 'client_a', '--json'], { env: c.env }))
          .stdout,
      );
      expect(byClient.data.map((e: { seq: number }) => e.seq)).toEqual([3, 2, 1]);
      const byAction = JSON.parse(
        (
          await runKeyplaneInProcess(
            ['audit', '--client', 'client_b', '--action', 'client.created', '--json'],
            {
              env: c.env,
            },
          )
        ).stdout,
      );
      expect(byAction.data.map((e: { seq: number }) => e.seq)).toEqual([5]);
      const limited = JSON.parse(
        (await runKeyplaneInProcess(['audit', '--limit', '2', '--json'], { env: c.env })).stdout,
      );
      expect(limited.data).toHaveLength(2);
      expect(limited.nextCursor).toBe('5');
      const byTarget = JSON.parse(
        (await runKeyplaneInProcess(['audit', '--target', 't4', '--json'], { env: c.env })).stdout,
      );
      expect(byTarget.data.map((e: { seq: number }) => e.seq)).toEqual([4]);

      const table = await runKeyplaneInProcess(['audit'], { env: c.env });
      expect(table.stdout).toMatch(/^SEQ\s+CREATEDAT\s+ACTOR\s+ACTION\s+TARGET/);
      expect(table.stdout).toContain('admin:adm_1');
      const badLimit = await runKeyplaneInProcess(['audit', '--limit', '0'], { env: c.env });
      // A usage error: exit 1 and one `error:` line (README, CLI exit codes).
      expect(badLimit.code).toBe(1);
      expect(badLimit.stderr.trim()).toBe('error: --limit must be 1-1000');

      const v = await verify(c.env);
      expect(v.human.code).toBe(0);
      expect(v.human.stdout.trim()).toBe('audit log intact: 6 entries, chain verified');
      expect(v.jsonCode).toBe(0);
      expect(v.json).toEqual({ ok: true, entries: 6, headSeq: 6 });
    } finally {
      await c.close();
    }
  });

  const tampering: Array<{
    name: string;
    tamper: (db: Store['db']) => Promise<unknown>;
    firstBad: number;
    reason: RegExp;
  }> = [
    {
      name: 'a field edited',
      tamper: (db) => sql`update audit_log set data = '{"n":99}' where seq = 3`.execute(db),
      firstBad: 3,
      reason: /entry 3 was modified/,
    },
    {
      name: 'an action edited and its own hash recomputed',
      tamper: async (db) => {
        const { entryHash } = await import('../src/audit/audit-fns.ts');
        const row = await db
          .selectFrom('audit_log')
          .selectAll()
          .where('seq', '=', 3)
          .executeTakeFirstOrThrow();
        const edited = { ...row, seq: Number(row.seq), action: 'nothing.happened' };
        await db
          .updateTable('audit_log')
          .set({ action: edited.action, hash: entryHash(edited) })
          .where('seq', '=', 3)
          .execute();
      },
      firstBad: 4,
      reason: /entry 4 does not follow entry 3/,
    },
    {
      name: 'a middle row deleted',
      tamper: (db) => sql`delete from audit_log where seq = 3`.execute(db),
      firstBad: 3,
      reason: /entry 3 is missing/,
    },
    {
      name: 'the last row deleted',
      tamper: (db) => sql`delete from audit_log where seq = 5`.execute(db),
      firstBad: 5,
      reason: /entry 5 is missing/,
    },
    {
      name: 'the first row deleted',
      tamper: (db) => sql`delete from audit_log where seq = 1`.execute(db),
      firstBad: 1,
      reason: /entry 1 is missing/,
    },
    {
      name: "two rows' seq swapped",
      tamper: async (db) => {
        await sql`update audit_log set seq = 1000 where seq = 2`.execute(db);
        await sql`update audit_log set seq = 2 where seq = 3`.execute(db);
        await sql`update audit_log set seq = 3 where seq = 1000`.execute(db);
      },
      firstBad: 2,
      reason: /entry 2 /,
    },
    {
      name: 'a row inserted with a forged hash',
      tamper: (db) =>
        sql`insert into audit_log (seq, id, created_at, actor_type, actor_id, action, target_type, data, prev_hash, hash)
            values (6, 'aud_forged', '2030-01-01T00:00:00.000Z', 'admin', 'x', 'x', 'x', '{}', ${'f'.repeat(64)}, ${'e'.repeat(64)})`.execute(
          db,
        ),
      firstBad: 6,
      reason: /entry 6 does not follow entry 5/,
    },
  ];

  it.each(tampering)('audit verify exits 1 and names the first bad entry: $name', async (t) => {
    const c = await chainOf(engine, 5);
    try {
      await t.tamper(c.store.db);
      const r = await runKeyplaneInProcess(['audit', 'verify'], { env: c.env });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`audit log TAMPERED: first bad entry is ${t.firstBad}:`);
      expect(r.stdout).toMatch(t.reason);
      // The same verdict from the service itself (the --json shape).
      const audit = createAuditService({
        auditStore: createAuditStore(c.store.db),
        clock: systemClock,
      });
      expect(await audit.verify()).toMatchObject({ ok: false, firstBadSeq: t.firstBad });
    } finally {
      await c.close();
    }
  });

  it('appends from two processes and two stores at once keep one valid chain', async () => {
    const database = await createTestDatabase(engine);
    const store = createStore(database.url);
    await migrateToLatest(store.db);
    const runWorker = (tag: string, n: number) =>
      new Promise<number | null>((ok) => {
        const child = spawn(
          process.execPath,
          [testWorker('audit-append-worker'), database.url, String(n), tag],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        );
        child.on('exit', (code) => ok(code));
      });
    const local = createAuditService({
      auditStore: createAuditStore(store.db),
      clock: systemClock,
    });
    try {
      const localAppends = (async () => {
        for (let i = 0; i < 40; i++) {
          await local.record({
            actor: { type: 'system', id: 'main' },
            action: 'test.appended',
            targetType: 'test',
          });
        }
      })();
      const codes = await Promise.all([runWorker('w1', 40), runWorker('w2', 40), localAppends]);
      expect(codes.slice(0, 2)).toEqual([0, 0]);
      const verdict = await local.verify();
      expect(verdict).toEqual({ ok: true, entries: 120, headSeq: 120 });
      const { rows } = await sql<{ actor_id: string; n: number }>`
        select actor_id, count(*) as n from audit_log group by actor_id order by actor_id`.execute(
        store.db,
      );
      expect(rows.map((r) => [r.actor_id, Number(r.n)])).toEqual([
        ['main', 40],
        ['w1', 40],
        ['w2', 40],
      ]);
      const cli = await runKeyplaneInProcess(['audit', 'verify'], {
        env: { KEYPLANE_DATABASE_URL: database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY },
      });
      expect(cli.code).toBe(0);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
