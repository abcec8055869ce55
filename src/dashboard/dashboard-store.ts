import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { DashboardSessionsTable } from './dashboard-types.ts';

/**
 * Dashboard sessions. A session is found only by the hash of its cookie value (an unguessable
 * capability); no method lists or reads sessions by client.
 */
export function createDashboardStore(db: Kysely<Database>) {
  return {
    async insert(row: DashboardSessionsTable): Promise<void> {
      await db.insertInto('dashboard_sessions').values(row).execute();
    },
    async findByHash(tokenHash: string): Promise<DashboardSessionsTable | undefined> {
      return db
        .selectFrom('dashboard_sessions')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst();
    },
    async deleteById(id: string): Promise<boolean> {
      const res = await db.deleteFrom('dashboard_sessions').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) === 1;
    },
    async touch(id: string, at: string): Promise<void> {
      await db
        .updateTable('dashboard_sessions')
        .set({ last_seen_at: at })
        .where('id', '=', id)
        .execute();
    },
    /** Removes every session that expired at or before `now` (ISO); answers how many. */
    async deleteExpired(now: string): Promise<number> {
      const res = await db
        .deleteFrom('dashboard_sessions')
        .where('expires_at', '<=', now)
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}

export type DashboardStore = ReturnType<typeof createDashboardStore>;
