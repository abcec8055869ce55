import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { CredentialsTable } from './credentials-types.ts';

/**
 * The vault's one table. Every method that reads or writes a credential takes its owner (a
 * client id or `platform`) so a wrong owner answers like a missing row. The exceptions are the
 * operator's key-maintenance reads (`pageWrappedWith`, `masterKeyIdsInUse`, `ownerOf`), which
 * never return secrets in clear and serve the CLI only.
 */
/** What soft delete writes: inactive, name freed, data key shredded (the secret can never open again). */
function shredded(at: string) {
  return {
    is_active: 0,
    active_name: null,
    wrapped_key: null,
    master_key_id: null,
    deleted_at: at,
    updated_at: at,
  } as const;
}

export function createCredentialsStore(db: Kysely<Database>) {
  return { ...credentialReads(db), ...credentialWrites(db), ...keyMaintenanceQueries(db) };
}

/** An owner's credentials: one, a page, the active ones for a provider, a summary. */
function credentialReads(db: Kysely<Database>) {
  return {
    async find(ownerId: string, id: string): Promise<CredentialsTable | undefined> {
      return db
        .selectFrom('credentials')
        .selectAll()
        .where('client_id', '=', ownerId)
        .where('id', '=', id)
        .executeTakeFirst();
    },

    async list(
      ownerId: string,
      opts: { provider?: string; includeDeleted?: boolean; limit: number; cursor?: string },
    ): Promise<CredentialsTable[]> {
      let q = db.selectFrom('credentials').selectAll().where('client_id', '=', ownerId);
      if (opts.provider) q = q.where('provider', '=', opts.provider);
      if (!opts.includeDeleted) q = q.where('deleted_at', 'is', null);
      if (opts.cursor) q = q.where('id', '>', opts.cursor);
      return q.orderBy('id', 'asc').limit(opts.limit).execute();
    },

    /** Active credentials of an owner for a provider: verified first, then newest. */
    async findActive(ownerId: string, provider: string): Promise<CredentialsTable[]> {
      return db
        .selectFrom('credentials')
        .selectAll()
        .where('client_id', '=', ownerId)
        .where('provider', '=', provider)
        .where('is_active', '=', 1)
        .where('deleted_at', 'is', null)
        .orderBy('is_verified', 'desc')
        .orderBy('id', 'desc')
        .limit(5)
        .execute();
    },

    async summary(
      ownerId: string,
    ): Promise<Array<{ provider: string; total: number; active: number; verified: number }>> {
      const rows = await db
        .selectFrom('credentials')
        .select((eb) => [
          'provider',
          eb.fn.countAll<number>().as('total'),
          eb.fn.sum<number>('is_active').as('active'),
          eb.fn
            .sum<number>(
              eb.case().when('is_active', '=', 1).then(eb.ref('is_verified')).else(0).end(),
            )
            .as('verified'),
        ])
        .where('client_id', '=', ownerId)
        .where('deleted_at', 'is', null)
        .groupBy('provider')
        .orderBy('provider')
        .execute();
      return rows.map((r) => ({
        provider: r.provider,
        total: Number(r.total),
        active: Number(r.active ?? 0),
        verified: Number(r.verified ?? 0),
      }));
    },
  };
}

/** Storing, changing, deleting (shredding) an owner's credentials, and the batched use counts. */
function credentialWrites(db: Kysely<Database>) {
  return {
    async insert(row: CredentialsTable): Promise<void> {
      await db.insertInto('credentials').values(row).execute();
    },

    async update(
      ownerId: string,
      id: string,
      patch: Partial<Omit<CredentialsTable, 'id' | 'client_id'>>,
      /** Another module's writes that commit with this change, or not at all (webhooks). */
      inTx?: (trx: Kysely<Database>) => Promise<unknown>,
    ): Promise<boolean> {
      const run = async (tx: Kysely<Database>) => {
        const res = await tx
          .updateTable('credentials')
          .set(patch)
          .where('client_id', '=', ownerId)
          .where('id', '=', id)
          .where('deleted_at', 'is', null)
          .executeTakeFirst();
        return Number(res.numUpdatedRows) === 1;
      };
      if (!inTx) return run(db);
      return db.transaction().execute(async (tx) => (await run(tx)) && (await inTx(tx), true));
    },

    /** Soft delete: inactive, name freed, data key shredded. False when already deleted. */
    async softDelete(ownerId: string, id: string, at: string): Promise<boolean> {
      const res = await db
        .updateTable('credentials')
        .set(shredded(at))
        .where('client_id', '=', ownerId)
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },

    /** Every live credential of an owner, deleted at once (the client was deleted). */
    async softDeleteAll(ownerId: string, at: string): Promise<string[]> {
      const ids = await db
        .selectFrom('credentials')
        .select('id')
        .where('client_id', '=', ownerId)
        .where('deleted_at', 'is', null)
        .execute();
      if (!ids.length) return [];
      await db
        .updateTable('credentials')
        .set(shredded(at))
        .where('client_id', '=', ownerId)
        .where('deleted_at', 'is', null)
        .execute();
      return ids.map((r) => r.id);
    },

    /** Adds batched use counts; keeps the latest last_used_at. */
    async addUsage(ownerId: string, id: string, count: number, lastUsedAt: string): Promise<void> {
      await db
        .updateTable('credentials')
        .set({
          usage_count: sql`usage_count + ${count}`,
          last_used_at: sql`case when last_used_at is null or last_used_at < ${lastUsedAt} then ${lastUsedAt} else last_used_at end`,
        })
        .where('client_id', '=', ownerId)
        .where('id', '=', id)
        .execute();
    },
  };
}

/** Operator key maintenance: no secrets in clear, CLI and start-up check only. */
function keyMaintenanceQueries(db: Kysely<Database>) {
  return {
    async ownerOf(id: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('credentials')
        .select('client_id')
        .where('id', '=', id)
        .executeTakeFirst();
      return row?.client_id;
    },

    async masterKeyIdsInUse(): Promise<Array<{ masterKeyId: string; sampleId: string }>> {
      const rows = await db
        .selectFrom('credentials')
        .select((eb) => ['master_key_id', eb.fn.min('id').as('sample_id')])
        .where('master_key_id', 'is not', null)
        .groupBy('master_key_id')
        .execute();
      return rows.map((r) => ({ masterKeyId: r.master_key_id!, sampleId: String(r.sample_id) }));
    },

    async findAny(id: string): Promise<CredentialsTable | undefined> {
      return db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
    },

    async countWrappedWithOther(activeKeyId: string): Promise<number> {
      const row = await db
        .selectFrom('credentials')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('wrapped_key', 'is not', null)
        .where('master_key_id', '<>', activeKeyId)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Data keys still wrapped with another master key, in id order after `afterId`. */
    async pageWrappedWithOther(
      activeKeyId: string,
      afterId: string,
      limit: number,
    ): Promise<
      Array<Pick<CredentialsTable, 'id' | 'client_id' | 'wrapped_key' | 'master_key_id'>>
    > {
      return db
        .selectFrom('credentials')
        .select(['id', 'client_id', 'wrapped_key', 'master_key_id'])
        .where('wrapped_key', 'is not', null)
        .where('master_key_id', '<>', activeKeyId)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .execute();
    },

    /**
     * Compare-and-set of a wrapped data key: a credential updated (re-sealed) meanwhile keeps
     * its new key.
     */
    async replaceWrappedKey(
      ownerId: string,
      id: string,
      expected: string,
      next: { wrappedKey: string; masterKeyId: string },
    ): Promise<boolean> {
      const res = await db
        .updateTable('credentials')
        .set({ wrapped_key: next.wrappedKey, master_key_id: next.masterKeyId })
        .where('client_id', '=', ownerId)
        .where('id', '=', id)
        .where('wrapped_key', '=', expected)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
  };
}

export type CredentialsStore = ReturnType<typeof createCredentialsStore>;
