import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../lib/clock.ts';
import { createStore } from '../store/create-db.ts';
import { createTestStore, ENGINES } from '../../test/support/stores.ts';
import { createAuditService } from './audit-service.ts';
import { createAuditStore } from './audit-store.ts';

describe.each(ENGINES)('audit service on %s', (engine) => {
  it('verifies an empty log, pages newest first, and walks a chain longer than one verify page', async () => {
    const t = await createTestStore(engine);
    const clock = createManualClock();
    const audit = createAuditService({ auditStore: createAuditStore(t.store.db), clock });
    try {
      expect(await audit.verify()).toEqual({ ok: true, entries: 0, headSeq: 0 });
      const N = 1205;
      for (let i = 1; i <= N; i++) {
        clock.advance(1000);
        await audit.record({
          actor: { type: 'system', id: 'test' },
          action: 'test.appended',
          targetType: 'test',
          clientId: i % 2 ? 'client_odd' : 'client_even',
          data: { i },
        });
      }
      // Cursor pagination returns every entry once, newest first.
      const seen: number[] = [];
      let cursor: number | undefined;
      for (;;) {
        const page = await audit.list({ clientId: 'client_odd', limit: 250, cursor });
        seen.push(...page.data.map((e) => e.seq));
        if (!page.nextCursor) break;
        cursor = Number(page.nextCursor);
      }
      expect(seen).toHaveLength(603);
      expect(seen[0]).toBe(1205);
      expect([...seen].sort((a, b) => b - a)).toEqual(seen);

      const progress: number[] = [];
      expect(await audit.verify((checked) => progress.push(checked))).toEqual({
        ok: true,
        entries: N,
        headSeq: N,
      });
      expect(progress).toEqual([1000, 1205]);

      // Tampering past the first verify page is found too.
      await sql`update audit_log set actor_id = 'someone' where seq = 1100`.execute(t.store.db);
      expect(await audit.verify()).toMatchObject({ ok: false, firstBadSeq: 1100, entries: 1099 });
    } finally {
      await t.close();
    }
  });

  // Two connections of one process to one SQLite file would wait on each other synchronously
  // (better-sqlite3's busy wait); two SQLite nodes are two processes (see test/cli-audit.test.ts).
  it.skipIf(engine === 'sqlite')(
    'keeps one chain when two stores in one process append at once',
    async () => {
      const t = await createTestStore(engine);
      const other = createStore(t.database.url);
      const clock = createManualClock();
      const a = createAuditService({ auditStore: createAuditStore(t.store.db), clock });
      const b = createAuditService({ auditStore: createAuditStore(other.db), clock });
      try {
        await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            (i % 2 ? a : b).record({
              actor: { type: 'system', id: i % 2 ? 'a' : 'b' },
              action: 'test.appended',
              targetType: 'test',
            }),
          ),
        );
        expect(await a.verify()).toEqual({ ok: true, entries: 60, headSeq: 60 });
      } finally {
        await other.close();
        await t.close();
      }
    },
  );
});
