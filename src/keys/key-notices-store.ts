import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { InTx } from './keys-store.ts';
import type { KeysTable } from './keys-types.ts';

/** credits.low levels: 1 = at or below 20 % of the grant, 2 = none left. */
export type LowLevel = 0 | 1 | 2;

/** The threshold a balance has reached, for a grant of `granted` (nothing granted: none). */
export function lowLevel(remaining: number, granted: number): LowLevel {
  if (granted <= 0) return 0;
  if (remaining <= 0) return 2;
  return remaining * 5 <= granted ? 1 : 0;
}

/**
 * The markers behind key.expiring and credits.low: each is set by one conditional UPDATE in the
 * transaction that writes the event, so whichever node (or scan) gets there first sends it and
 * every other one finds the marker set and sends nothing.
 */
export function createKeyNoticesStore(db: Kysely<Database>) {
  return { ...createCreditNotices(db), ...createExpiryNotices(db) };
}

/** credits.low: the pool's grant marked as reported, and the pools a stopped node left. */
function createCreditNotices(db: Kysely<Database>) {
  return {
    /**
     * Marks the pool's grant `grantSeq` as reported down to `level` and runs `inTx` in the same
     * transaction. False (nothing written) when that level was reported already or the pool was
     * refilled meanwhile.
     */
    async markCreditsLow(
      poolId: string,
      grantSeq: number,
      level: LowLevel,
      inTx: InTx,
    ): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        const res = await tx
          .updateTable('key_credit_pools')
          .set({ low_alerted: level })
          .where('id', '=', poolId)
          .where('grant_seq', '=', grantSeq)
          .where('low_alerted', '<', level)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return false;
        await inTx(tx);
        return true;
      });
    },

    /**
     * Pools whose balance reached a threshold that was not reported (a node stopped between
     * taking the credit and writing the event), with one active key spending from each.
     */
    async unreportedLowPools(limit: number) {
      const pools = await db
        .selectFrom('key_credit_pools as p')
        .select(['p.id', 'p.client_id', 'p.remaining', 'p.granted', 'p.grant_seq', 'p.low_alerted'])
        .select(['p.refill_interval', 'p.refill_amount'])
        .where('p.granted', '>', 0)
        .where((eb) =>
          eb.or([
            eb.and([eb('p.remaining', '<=', 0), eb('p.low_alerted', '<', 2)]),
            eb.and([
              eb(eb('p.remaining', '*', 5), '<=', eb.ref('p.granted')),
              eb('p.low_alerted', '<', 1),
            ]),
          ]),
        )
        .orderBy('p.id')
        .limit(limit)
        .execute();
      const out = [];
      for (const p of pools) {
        const key = await db
          .selectFrom('api_keys')
          .select(['id', 'environment'])
          .where('client_id', '=', p.client_id)
          .where('credit_pool_id', '=', p.id)
          .orderBy('id', 'desc')
          .executeTakeFirst();
        if (key) out.push({ ...p, key });
      }
      return out;
    },
  };
}

/** key.expiring: the keys due a notice, and the marker that sends it once. */
function createExpiryNotices(db: Kysely<Database>) {
  return {
    /**
     * Active keys, not rolled, expiring in (now, until] whose notice for `days` (7 or 1) is not
     * sent yet (a 1-day notice also replaces a 7-day one never sent).
     */
    async keysToWarn(now: string, until: string, days: 7 | 1, limit: number) {
      return db
        .selectFrom('api_keys')
        .selectAll()
        .where('status', '=', 'active')
        .where('retired_at', 'is', null)
        .where('expires_at', '>', now)
        .where('expires_at', '<=', until)
        .where((eb) => eb.or([eb('expiry_notice', 'is', null), eb('expiry_notice', '>', days)]))
        .orderBy('expires_at')
        .limit(limit)
        .execute() as Promise<KeysTable[]>;
    },

    /** Marks the key warned `days` before `expiresAt` and runs `inTx` with it, exactly once. */
    async markExpiryNotice(
      clientId: string,
      keyId: string,
      expiresAt: string,
      days: 7 | 1,
      inTx: InTx,
    ): Promise<boolean> {
      return db.transaction().execute(async (tx) => {
        const res = await tx
          .updateTable('api_keys')
          .set({ expiry_notice: days })
          .where('client_id', '=', clientId)
          .where('id', '=', keyId)
          .where('status', '=', 'active')
          .where('expires_at', '=', expiresAt)
          .where((eb) => eb.or([eb('expiry_notice', 'is', null), eb('expiry_notice', '>', days)]))
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) return false;
        await inTx(tx);
        return true;
      });
    },
  };
}
