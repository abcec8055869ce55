import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import {
  addHold,
  reclaimSilent,
  heldByOthers,
  takeFromHold,
  type GivenBack,
} from './budgets-hold-store.ts';
import type { ReserveItem } from './budgets-store.ts';

type Q = Kysely<Database> | Transaction<Database>;

/** A lease to grant: `micros` reserved at once, only while `room` still fits under `limit`. */
export interface LeaseGrant {
  leaseId: string;
  nodeId: string;
  budgetId: string;
  periodStart: string;
  micros: number;
  /** what must fit: spend + room <= limit (room ≥ micros); null = soft, never refused */
  room: number | null;
  limit: number | null;
  expiresAt: string;
  /** ISO now, read when the hold is written (after the spend row's lock: see Horizon.stamp) */
  stamp: () => string;
}

/** A lease to give back: what it did not use leaves its node's hold and the spend. */
export interface LeaseReturn {
  leaseId: string;
  budgetId: string;
  periodStart: string;
  nodeId: string;
  epoch: number;
  unused: number;
}

/** The answer to a single reservation decided with the leases in view (epoch: of the hold). */
export type Decision = { spent: number; epoch: number } | 'wait' | 'refused';

/** Who is asking, and the times that make a lease stale and a node silent or reclaimable. */
export interface Horizon {
  nodeId: string;
  now: string;
  /**
   * ISO now, read when this node's hold is written, after the spend row's lock was taken: a
   * reservation that waited for the lock longer than HOLD_RECLAIM_MS is not stamped as already
   * silent (the next node would give it back while its call is served: an overshoot).
   */
  stamp: () => string;
  /** leases that expired before this are dropped (their node died) */
  staleBefore: string;
  /** a node's hold unwritten since this is given back to the budget */
  reclaimBefore: string;
  /** the silent nodes' holds this decision gave back (the caller logs them once committed) */
  given: GivenBack[];
}

async function ensureRow(q: Q, clientId: string, budgetId: string, periodStart: string) {
  await q
    .insertInto('budget_spend')
    .values({
      budget_id: budgetId,
      period_start: periodStart,
      client_id: clientId,
      spent_micros: 0,
    })
    .onConflict((oc) => oc.columns(['budget_id', 'period_start']).doNothing())
    .execute();
}

function spendRow(q: Q, clientId: string, budgetId: string, periodStart: string) {
  return q
    .updateTable('budget_spend')
    .where('budget_id', '=', budgetId)
    .where('period_start', '=', periodStart)
    .where('client_id', '=', clientId);
}

/**
 * Locks the period's spend row (PostgreSQL: the row; SQLite: the database) and reads it.
 * Grants, returns and decisions all start with it, so each sees the leases as they are.
 */
export async function lockSpend(q: Q, clientId: string, budgetId: string, periodStart: string) {
  const row = await spendRow(q, clientId, budgetId, periodStart)
    .set((eb) => ({ spent_micros: eb.ref('spent_micros') }))
    .returning('spent_micros')
    .executeTakeFirst();
  return row ? Number(row.spent_micros) : 0;
}

async function grantLease(db: Kysely<Database>, clientId: string, g: LeaseGrant) {
  return db.transaction().execute(async (trx) => {
    await ensureRow(trx, clientId, g.budgetId, g.periodStart);
    let update = spendRow(trx, clientId, g.budgetId, g.periodStart).set((eb) => ({
      spent_micros: eb('spent_micros', '+', g.micros),
    }));
    if (g.limit !== null) {
      const room = g.room ?? g.micros;
      update = update.where((eb) => eb(eb('spent_micros', '+', room), '<=', g.limit!));
    }
    const row = await update.returning('spent_micros').executeTakeFirst();
    if (!row) return null;
    const epoch = await addHold(trx, clientId, g, g.nodeId, g.micros, g.stamp());
    await trx
      .insertInto('budget_leases')
      .values({
        lease_id: g.leaseId,
        budget_id: g.budgetId,
        period_start: g.periodStart,
        client_id: clientId,
        node_id: g.nodeId,
        micros: g.micros,
        expires_at: g.expiresAt,
      })
      .execute();
    return { spent: Number(row.spent_micros), epoch };
  });
}

/**
 * Gives a lease's unused part back: out of the node's hold and the spend, unless the hold was
 * given back already (its node fell silent): then the unused part went with it.
 */
async function returnLease(db: Kysely<Database>, clientId: string, lease: LeaseReturn) {
  await db.transaction().execute(async (trx) => {
    await lockSpend(trx, clientId, lease.budgetId, lease.periodStart);
    await trx
      .deleteFrom('budget_leases')
      .where('lease_id', '=', lease.leaseId)
      .where('client_id', '=', clientId)
      .execute();
    if (lease.unused <= 0) return;
    if (!(await takeFromHold(trx, { clientId, ...lease }, lease.unused))) return;
    await spendRow(trx, clientId, lease.budgetId, lease.periodStart)
      .set((eb) => ({ spent_micros: eb('spent_micros', '-', lease.unused) }))
      .execute();
  });
}

/**
 * One call's price decided exactly, with the leases in view: reserved (and held by this node)
 * if it fits, after giving back the holds of nodes silent past `reclaimBefore`; else 'wait'
 * while a lease or a silent node's hold may still come back, else 'refused'.
 */
async function decide(
  db: Kysely<Database>,
  clientId: string,
  item: ReserveItem,
  h: Horizon,
): Promise<Decision> {
  return db.transaction().execute(async (trx) => {
    await ensureRow(trx, clientId, item.budgetId, item.periodStart);
    let spent = await lockSpend(trx, clientId, item.budgetId, item.periodStart);
    const fits = () => item.limit === null || spent + item.micros <= item.limit;
    if (!fits()) spent -= await reclaim(trx, clientId, item, h);
    if (fits()) {
      await spendRow(trx, clientId, item.budgetId, item.periodStart)
        .set((eb) => ({ spent_micros: eb('spent_micros', '+', item.micros) }))
        .execute();
      const epoch = await addHold(trx, clientId, item, h.nodeId, item.micros, h.stamp());
      return { spent: spent + item.micros, epoch };
    }
    if ((await outstanding(trx, clientId, item, spent, h)) > 0) return 'wait';
    await markFull(trx, clientId, item, h.now);
    return 'refused';
  });
}

/**
 * The period refused a call with nothing left to come back: a hard budget full for it, even a
 * few micro-units short of its amount (the alert sweep counts it as 100 % reached).
 */
async function markFull(
  trx: Transaction<Database>,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  at: string,
): Promise<void> {
  await spendRow(trx, clientId, item.budgetId, item.periodStart)
    .where('full_at', 'is', null)
    .set({ full_at: at })
    .execute();
}

/** Gives back the silent nodes' holds (the spend row is locked by the caller). */
async function reclaim(
  trx: Transaction<Database>,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  h: Horizon,
): Promise<number> {
  const back = await reclaimSilent(trx, clientId, item, h.reclaimBefore, h.given);
  if (back > 0) {
    await spendRow(trx, clientId, item.budgetId, item.periodStart)
      .set((eb) => ({ spent_micros: eb('spent_micros', '-', back) }))
      .execute();
  }
  return back;
}

/**
 * What may still come back on the period: the leases not past `staleBefore` (stale ones are
 * dropped), and what other nodes hold when its return would let the call fit (a server error
 * is refunded; a node that died has its hold given back).
 */
async function outstanding(
  q: Q,
  clientId: string,
  item: ReserveItem,
  spent: number,
  h: Horizon,
): Promise<number> {
  await q
    .deleteFrom('budget_leases')
    .where('client_id', '=', clientId)
    .where('budget_id', '=', item.budgetId)
    .where('period_start', '=', item.periodStart)
    .where('expires_at', '<', h.staleBefore)
    .execute();
  const row = await q
    .selectFrom('budget_leases')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('client_id', '=', clientId)
    .where('budget_id', '=', item.budgetId)
    .where('period_start', '=', item.periodStart)
    .executeTakeFirst();
  const held = await heldByOthers(q, clientId, item, h.nodeId);
  const mayFit = held > 0 && (item.limit === null || spent - held + item.micros <= item.limit);
  return Number(row?.n ?? 0) + (mayFit ? 1 : 0);
}

/** Gives back the silent nodes' holds on a period, then counts what may still come back. */
async function liveLeases(
  db: Kysely<Database>,
  clientId: string,
  item: ReserveItem,
  h: Horizon,
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await ensureRow(trx, clientId, item.budgetId, item.periodStart);
    const spent = await lockSpend(trx, clientId, item.budgetId, item.periodStart);
    const back = await reclaim(trx, clientId, item, h);
    const n = await outstanding(trx, clientId, item, spent - back, h);
    const full = item.limit !== null && spent - back + item.micros > item.limit;
    if (n === 0 && full) await markFull(trx, clientId, item, h.now);
    return n;
  });
}

/** The leases of budget_leases: granted, given back, and seen by a node about to refuse. */
export function createBudgetLeaseStore(db: Kysely<Database>) {
  return {
    grantLease: (clientId: string, g: LeaseGrant) => grantLease(db, clientId, g),
    returnLease: (clientId: string, lease: LeaseReturn) => returnLease(db, clientId, lease),
    decide: (clientId: string, item: ReserveItem, h: Horizon) => decide(db, clientId, item, h),
    /** Gives back silent nodes' holds, and counts what may still come back (see outstanding). */
    liveLeases: (clientId: string, item: ReserveItem, h: Horizon) =>
      liveLeases(db, clientId, item, h),
  };
}
