import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
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
}

/** The answer to a single reservation decided with the leases in view. */
export type Decision = { spent: number } | 'wait' | 'refused';

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
async function lockSpend(q: Q, clientId: string, budgetId: string, periodStart: string) {
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
    return Number(row.spent_micros);
  });
}

/**
 * Gives a lease's unused part back. Only if its row is still there: a lease already expired
 * and dropped by another node counts as spent, and its owner gives nothing back.
 */
async function returnLease(
  db: Kysely<Database>,
  clientId: string,
  lease: { leaseId: string; budgetId: string; periodStart: string; unused: number },
) {
  await db.transaction().execute(async (trx) => {
    await lockSpend(trx, clientId, lease.budgetId, lease.periodStart);
    const r = await trx
      .deleteFrom('budget_leases')
      .where('lease_id', '=', lease.leaseId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0 || lease.unused <= 0) return;
    await spendRow(trx, clientId, lease.budgetId, lease.periodStart)
      .set((eb) => ({ spent_micros: eb('spent_micros', '-', lease.unused) }))
      .execute();
  });
}

/**
 * One call's price decided exactly, with the leases in view: reserved if it fits; else 'wait'
 * while any node holds a lease on the period that is not past `staleBefore` (it comes back
 * within its lifetime), else 'refused'. Leases past it (their node died) are dropped, and what
 * they reserved stays spent.
 */
async function decide(
  db: Kysely<Database>,
  clientId: string,
  item: ReserveItem,
  staleBefore: string,
): Promise<Decision> {
  return db.transaction().execute(async (trx) => {
    await ensureRow(trx, clientId, item.budgetId, item.periodStart);
    const spent = await lockSpend(trx, clientId, item.budgetId, item.periodStart);
    if (item.limit === null || spent + item.micros <= item.limit) {
      await spendRow(trx, clientId, item.budgetId, item.periodStart)
        .set((eb) => ({ spent_micros: eb('spent_micros', '+', item.micros) }))
        .execute();
      return { spent: spent + item.micros };
    }
    return (await liveLeases(trx, clientId, item, staleBefore)) > 0 ? 'wait' : 'refused';
  });
}

/** Drops the period's stale leases, and counts the others. */
async function liveLeases(
  q: Q,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  staleBefore: string,
): Promise<number> {
  await q
    .deleteFrom('budget_leases')
    .where('client_id', '=', clientId)
    .where('budget_id', '=', item.budgetId)
    .where('period_start', '=', item.periodStart)
    .where('expires_at', '<', staleBefore)
    .execute();
  const row = await q
    .selectFrom('budget_leases')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('client_id', '=', clientId)
    .where('budget_id', '=', item.budgetId)
    .where('period_start', '=', item.periodStart)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The leases of budget_leases: granted, given back, and seen by a node about to refuse. */
export function createBudgetLeaseStore(db: Kysely<Database>) {
  return {
    grantLease: (clientId: string, g: LeaseGrant) => grantLease(db, clientId, g),
    returnLease: (
      clientId: string,
      lease: { leaseId: string; budgetId: string; periodStart: string; unused: number },
    ) => returnLease(db, clientId, lease),
    decide: (clientId: string, item: ReserveItem, staleBefore: string) =>
      decide(db, clientId, item, staleBefore),
    liveLeases: (
      clientId: string,
      item: { budgetId: string; periodStart: string },
      staleBefore: string,
    ) => liveLeases(db, clientId, item, staleBefore),
  };
}
