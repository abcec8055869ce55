import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { AdminTokensTable } from './admin-tokens-types.ts';

export function createAdminTokensStore(db: Kysely<Database>) {
  return {
    async insert(row: AdminTokensTable): Promise<void> {
      await db.insertInto('admin_tokens').values(row).execute();
    },
    async findByHash(hash: string): Promise<AdminTokensTable | undefined> {
      return db
        .selectFrom('admin_tokens')
        .selectAll()
        .where('token_hash', '=', hash)
        .executeTakeFirst();
    },
    async findById(id: string): Promise<AdminTokensTable | undefined> {
      return db.selectFrom('admin_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async list(): Promise<AdminTokensTable[]> {
      return db.selectFrom('admin_tokens').selectAll().orderBy('id', 'asc').execute();
    },
    async revoke(id: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('admin_tokens')
        .set({ revoked_at: at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async touch(id: string, at: string): Promise<void> {
      await db.updateTable('admin_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
    },
  };
}

export type AdminTokensStore = ReturnType<typeof createAdminTokensStore>;
