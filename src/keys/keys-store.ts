import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import { createKeyNoticesStore } from './key-notices-store.ts';
import type { KeyCreditPoolsTable, KeyRow, KeysTable } from './keys-types.ts';

type KeyPatch = Partial<Omit<KeysTable, 'id' | 'client_id' | 'key_hash' | 'created_at'>>;
type Db = Kysely<Database> | Transaction<Database>;
/** Another module's writes that commit with the key's change, or not at all (webhooks). */
export type InTx = (trx: Transaction<Database>) => Promise<unknown>;

/** What taking credits leaves: the balance and the pool's grant (for credits.low). */
export interface TakenCredits {
  remaining: number;
  granted: number;
  grantSeq: number;
  lowAlerted: number;
}

/** api_keys with its pool's credits under the column names the service reads. */
function selectKeys(db: Db) {
  return db
    .selectFrom('api_keys')
    .leftJoin('key_credit_pools as p', 'p.id', 'api_keys.credit_pool_id')
    .selectAll('api_keys')
    .select([
      'p.remaining as credits_remaining',
      'p.refill_interval as refill_interval',
      'p.refill_amount as refill_amount',
      'p.refilled_at as refilled_at',
    ]);
}

/** Drops a pool once no key spends from it any more. */
async function dropPoolIfUnused(db: Db, poolId: string | null): Promise<void> {
  if (!poolId) return;
  await db
    .deleteFrom('key_credit_pools')
    .where('id', '=', poolId)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('api_keys').select('id').where('credit_pool_id', '=', poolId))),
    )
    .execute();
}

/** Every method that touches a client's keys takes the client id: no "find by id" without it. */
export function createKeysStore(db: Kysely<Database>) {
  return {
    ...createKeyNoticesStore(db),
    ...createKeyReads(db),
    ...createKeyIssues(db),
    ...createKeyChanges(db),
    ...createKeyRemovals(db),
    ...createCreditPools(db),
  };
}

/** Lookups: by hash (verification), by client and id, pages, legacy counts. */
function createKeyReads(db: Kysely<Database>) {
  return {
    /** The verification lookup: by hash only, since the hash is what identifies the caller. */
    async findByHash(hash: string): Promise<KeyRow | undefined> {
      return selectKeys(db).where('api_keys.key_hash', '=', hash).executeTakeFirst();
    },
    async find(clientId: string, keyId: string): Promise<KeyRow | undefined> {
      return selectKeys(db)
        .where('api_keys.client_id', '=', clientId)
        .where('api_keys.id', '=', keyId)
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
    async list(clientId: string, opts: { limit: number; cursor?: string }): Promise<KeyRow[]> {
      let q = selectKeys(db)
        .where('api_keys.client_id', '=', clientId)
        .orderBy('api_keys.id', 'asc')
        .limit(opts.limit);
      if (opts.cursor) q = q.where('api_keys.id', '>', opts.cursor);
      return q.execute();
    },
    /** Every key of these clients (a page of the operator's client list), by client then id. */
    async listForClients(clientIds: readonly string[]): Promise<KeyRow[]> {
      if (!clientIds.length) return [];
      return selectKeys(db)
        .where('api_keys.client_id', 'in', clientIds)
        .orderBy('api_keys.client_id', 'asc')
        .orderBy('api_keys.id', 'asc')
        .execute();
    },
    /** Legacy keys stored (any status) and those still active: the verify path and the gauge. */
    async countLegacy(): Promise<{ total: number; active: number }> {
      const rows = await db
        .selectFrom('api_keys')
        .select(['status', (eb) => eb.fn.countAll<number | string>().as('n')])
        .where('legacy', '=', 1)
        .groupBy('status')
        .execute();
      let total = 0;
      let active = 0;
      for (const r of rows) {
        total += Number(r.n);
        if (r.status === 'active') active += Number(r.n);
      }
      return { total, active };
    },
    /** Active legacy keys last used at or after `since` (ISO): those still in use. */
    async countLegacyUsedSince(since: string): Promise<number> {
      const row = await db
        .selectFrom('api_keys')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('legacy', '=', 1)
        .where('status', '=', 'active')
        .where('last_used_at', '>=', since)
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },
  };
}

/** New keys: an issue (with its pool) and a roll (the old key claimed, its successor inserted). */
function createKeyIssues(db: Kysely<Database>) {
  return {
    /** A key, and its credit pool when it has one, in one transaction. */
    async insert(
      row: KeysTable,
      pool: KeyCreditPoolsTable | null = null,
      inTx?: InTx,
    ): Promise<void> {
      await db.transaction().execute(async (tx) => {
        if (pool) await tx.insertInto('key_credit_pools').values(pool).execute();
        await tx.insertInto('api_keys').values(row).execute();
        await inTx?.(tx);
      });
    },
    /**
     * A roll, all or nothing: claims the old key (still active, not rolled yet, not retired)
     * with `oldPatch` and inserts its successor. False, with nothing written, when the claim
     * lost (another roll, a revoke or a delete got there first).
     */
    async roll(
      clientId: string,
      oldId: string,
      oldPatch: KeyPatch,
      successor: KeysTable,
      inTx?: InTx,
    ): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        // The claim comes first: it takes the row's write lock (PostgreSQL) or the database's
        // (SQLite) before anything is read, so a concurrent roll waits and then finds it gone.
        const res = await tx
          .updateTable('api_keys')
          .set(oldPatch)
          .where('client_id', '=', clientId)
          .where('id', '=', oldId)
          .where('status', '=', 'active')
          .where('rolled_to', 'is', null)
          .where('retired_at', 'is', null)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return false;
        await tx.insertInto('api_keys').values(successor).execute();
        await inTx?.(tx);
        return true;
      });
    },
  };
}

/** Changes to existing keys: a guarded update, retirement, last-used times. */
function createKeyChanges(db: Kysely<Database>) {
  return {
    async update(
      clientId: string,
      keyId: string,
      patch: KeyPatch,
      onlyIf?: Partial<KeysTable>,
      inTx?: InTx,
    ): Promise<boolean> {
      const run = async (tx: Db) => {
        let q = tx
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
      };
      if (!inTx) return run(db);
      return db.transaction().execute(async (tx) => (await run(tx)) && (await inTx(tx), true));
    },
    /**
     * Revokes a key for good: revoked and retired, whatever its status, unless it already is
     * both. Keeps the first revocation and retirement times. False when nothing changed.
     */
    async retire(
      clientId: string,
      keyId: string,
      at: string,
      reason: string,
      inTx?: InTx,
    ): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        const res = await tx
          .updateTable('api_keys')
          .set({
            status: 'revoked',
            revoked_at: sql<string>`coalesce(revoked_at, ${at})`,
            revoked_reason: reason,
            retired_at: sql<string>`coalesce(retired_at, ${at})`,
            updated_at: at,
          })
          .where('client_id', '=', clientId)
          .where('id', '=', keyId)
          .where((eb) => eb.or([eb('status', '=', 'active'), eb('retired_at', 'is', null)]))
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return false;
        await inTx?.(tx);
        return true;
      });
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

/** Deletion: a key (and its pool once unused), or every key of a client. */
function createKeyRemovals(db: Kysely<Database>) {
  return {
    async delete(clientId: string, keyId: string): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        const row = await tx
          .deleteFrom('api_keys')
          .where('client_id', '=', clientId)
          .where('id', '=', keyId)
          .returning('credit_pool_id')
          .executeTakeFirst();
        if (!row) return false;
        await dropPoolIfUnused(tx, row.credit_pool_id);
        return true;
      });
    },
    async deleteAllForClient(clientId: string): Promise<string[]> {
      return db.transaction().execute(async (tx) => {
        const rows = await tx
          .deleteFrom('api_keys')
          .where('client_id', '=', clientId)
          .returning('id')
          .execute();
        await tx.deleteFrom('key_credit_pools').where('client_id', '=', clientId).execute();
        return rows.map((r) => r.id);
      });
    },
  };
}

/** The credit pools keys spend from: take atomically, refill once per period. */
function createCreditPools(db: Kysely<Database>) {
  return {
    /**
     * Takes `n` credits from a pool atomically (one statement, safe across nodes and across the
     * keys sharing the pool). Returns what is left, or null when fewer than `n` remain.
     */
    async takeCredits(poolId: string, n: number): Promise<TakenCredits | null> {
      const row = await db
        .updateTable('key_credit_pools')
        .set((eb) => ({ remaining: eb('remaining', '-', n) }))
        .where('id', '=', poolId)
        .where('remaining', '>=', n)
        .returning(['remaining', 'granted', 'grant_seq', 'low_alerted'])
        .executeTakeFirst();
      return row
        ? {
            remaining: Number(row.remaining),
            granted: Number(row.granted),
            grantSeq: Number(row.grant_seq),
            lowAlerted: Number(row.low_alerted),
          }
        : null;
    },
    /** Refills once per period: only the first caller after the period starts wins. */
    async refillCredits(poolId: string, amount: number, periodStart: string): Promise<void> {
      await db
        .updateTable('key_credit_pools')
        // A refill is a new grant: credits.low starts over for it.
        .set((eb) => ({
          remaining: amount,
          refilled_at: periodStart,
          granted: amount,
          grant_seq: eb('grant_seq', '+', 1),
          low_alerted: 0,
        }))
        .where('id', '=', poolId)
        .where((eb) => eb.or([eb('refilled_at', 'is', null), eb('refilled_at', '<', periodStart)]))
        .execute();
    },
  };
}

export type KeysStore = ReturnType<typeof createKeysStore>;
