import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import { entryHash } from './audit-fns.ts';
import type { AuditFilter, AuditHeadTable, AuditLogTable } from './audit-types.ts';

export function createAuditStore(db: Kysely<Database>) {
  return {
    /**
     * Appends one entry. The head row is updated first, so the transaction takes the write lock
     * (SQLite) or the row lock (PostgreSQL) before it reads the previous hash: appends from any
     * number of processes serialize into one chain.
     */
    async append(entry: Omit<AuditLogTable, 'seq' | 'prev_hash' | 'hash'>): Promise<AuditLogTable> {
      return db.transaction().execute(async (tx) => {
        const head = await tx
          .updateTable('audit_head')
          .set((eb) => ({ seq: eb('seq', '+', 1) }))
          .where('id', '=', 1)
          .returning(['seq', 'last_hash'])
          .executeTakeFirstOrThrow();
        const base = { ...entry, seq: Number(head.seq), prev_hash: head.last_hash };
        const row: AuditLogTable = { ...base, hash: entryHash(base) };
        await tx.insertInto('audit_log').values(row).execute();
        await tx
          .updateTable('audit_head')
          .set({ last_hash: row.hash })
          .where('id', '=', 1)
          .execute();
        return row;
      });
    },

    async list(filter: AuditFilter): Promise<AuditLogTable[]> {
      let q = db
        .selectFrom('audit_log')
        .selectAll()
        .orderBy('seq', 'desc')
        .limit(filter.limit ?? 50);
      if (filter.clientId) q = q.where('client_id', '=', filter.clientId);
      if (filter.action) q = q.where('action', '=', filter.action);
      if (filter.targetId) q = q.where('target_id', '=', filter.targetId);
      if (filter.targetType) q = q.where('target_type', '=', filter.targetType);
      if (filter.cursor !== undefined) q = q.where('seq', '<', filter.cursor);
      return q.execute();
    },

    /** Rows in chain order, a page at a time. */
    async page(afterSeq: number, limit: number): Promise<AuditLogTable[]> {
      return db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '>', afterSeq)
        .orderBy('seq', 'asc')
        .limit(limit)
        .execute();
    },

    async head(): Promise<Pick<AuditHeadTable, 'seq' | 'last_hash'>> {
      const h = await db
        .selectFrom('audit_head')
        .select(['seq', 'last_hash'])
        .where('id', '=', 1)
        .executeTakeFirstOrThrow();
      return { seq: Number(h.seq), last_hash: h.last_hash };
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
