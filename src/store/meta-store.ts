import type { Kysely } from 'kysely';
import type { Database } from './database.ts';

export interface MetaTables {
  meta: { key: string; value: string };
}

/** Deployment facts written once. `claim` is true for exactly one caller across all nodes. */
export function createMetaStore(db: Kysely<Database>) {
  return {
    async claim(key: string, value: string): Promise<boolean> {
      const res = await db
        .insertInto('meta')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async get(key: string): Promise<string | null> {
      const row = await db
        .selectFrom('meta')
        .select('value')
        .where('key', '=', key)
        .executeTakeFirst();
      return row?.value ?? null;
    },
  };
}

export type MetaStore = ReturnType<typeof createMetaStore>;
