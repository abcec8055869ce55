import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { KeysTable } from './keys-types.ts';

type KeyPatch = Partial<Omit<KeysTable, 'id' | 'client_id' | 'key_hash' | 'created_at'>>;

/** Every method that touches a client's keys takes the client id: no "find by id" without it. */
export function createKeysStore(db: Kysely<Database>) {
  return {
    async insert(row: KeysTable): Promise<void> {
      await db.insertInto('api_keys').values(row).execute();
    },
    /** The verification lookup: by hash only, since the hash is what identifies the caller. */
    async findByHash(hash: string): Promise<KeysTable | undefined> {
      return db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
    },
    async find(clientId: string, keyId: string): Promise<KeysTable | undefined> {
      return db
        .selectFrom('api_keys')
        .selectAll()
        .where('client_id', '=', clientId)
        .where('id', '=', keyId)
        .executeTakeFirst();
    },
    /** Operator paths only (CLI by key id): which client owns a key. Never used on client routes. */
    async ownerOf(keyId: string): Promise<string | null> {
      const row = await db
        .selectFrom('api_keys')
        .select('client_id')
        .where('id', '=', keyId)
        .executeTakeFirst();
      return row?.client_id ?? null;
    },
    async list(clientId: string, opts: { limit: number; cursor?: string }): Promise<KeysTable[]> {
      let q = db
        .selectFrom('api_keys')
        .selectAll()
        .where('client_id', '=', clientId)
        .orderBy('id', 'asc')
        .limit(opts.limit);
      if (opts.cursor) q = q.where('id', '>', opts.cursor);
      return q.execute();
    },
    /** Every key of these clients (a page of the operator's client list), by client then id. */
    async listForClients(clientIds: readonly string[]): Promise<KeysTable[]> {
      if (!clientIds.length) return [];
      return db
        .selectFrom('api_keys')
        .selectAll()
        .where('client_id', 'in', clientIds)
        .orderBy('client_id', 'asc')
        .orderBy('id', 'asc')
        .execute();
    },
    async update(
      clientId: string,
      keyId: string,
      patch: KeyPatch,
      onlyIf?: Partial<KeysTable>,
    ): Promise<boolean> {
      let q = db
        .updateTable('api_keys')
        .set(patch)
        .where('client_id', '=', clientId)
        .where('id', '=', keyId);
      for (const [col, val] of Object.entries(onlyIf ?? {})) {
        q =
          val === null
            ? q.where(col as keyof KeysTable, 'is', null)
            : q.where(col as keyof KeysTable, '=', val as never);
      }
      const res = await q.executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async delete(clientId: string, keyId: string): Promise<boolean> {
      const res = await db
        .deleteFrom('api_keys')
        .where('client_id', '=', clientId)
        .where('id', '=', keyId)
        .executeTakeFirst();
      return Number(res.numDeletedRows) === 1;
    },
    async deleteAllForClient(clientId: string): Promise<string[]> {
      const rows = await db
        .deleteFrom('api_keys')
        .where('client_id', '=', clientId)
        .returning('id')
        .execute();
      return rows.map((r) => r.id);
    },
    /**
     * Takes `n` credits atomically (one statement, safe across nodes). Returns what is left, or
     * null when fewer than `n` remain.
     */
    async takeCredits(keyId: string, n: number): Promise<number | null> {
      const row = await db
        .updateTable('api_keys')
        .set((eb) => ({ credits_remaining: eb('credits_remaining', '-', n) }))
        .where('id', '=', keyId)
        .where('credits_remaining', '>=', n)
        .returning('credits_remaining')
        .executeTakeFirst();
      return row ? Number(row.credits_remaining) : null;
    },
    /** Refills once per period: only the first caller after the period starts wins. */
    async refillCredits(keyId: string, amount: number, periodStart: string): Promise<void> {
      await db
        .updateTable('api_keys')
        .set({ credits_remaining: amount, refilled_at: periodStart })
        .where('id', '=', keyId)
        .where((eb) => eb.or([eb('refilled_at', 'is', null), eb('refilled_at', '<', periodStart)]))
        .execute();
    },
    async touchMany(touches: Array<{ id: string; at: string }>): Promise<void> {
      if (!touches.length) return;
      await db.transaction().execute(async (tx) => {
        for (const t of touches) {
          await tx
            .updateTable('api_keys')
            .set({ last_used_at: t.at })
            .where('id', '=', t.id)
            .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', t.at)]))
            .execute();
        }
      });
    },
  };
}

export type KeysStore = ReturnType<typeof createKeysStore>;
