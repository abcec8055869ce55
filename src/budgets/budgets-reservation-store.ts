import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import { takeFromHold } from './budgets-hold-store.ts';
import { lockSpend } from './budgets-lease-store.ts';
import type { BudgetReservationsTable } from './budgets-types.ts';

/** One budget a reservation is on, and the hold its price is in. */
export interface ReservationItem {
  budgetId: string;
  periodStart: string;
  nodeId: string;
  epoch: number;
}

/** A reservation waiting for its call's usage report (see BudgetReservationsTable). */
export interface Reservation {
  id: string;
  clientId: string;
  keyId: string;
  endpoint: string;
  priceMicros: number;
  items: ReservationItem[];
}

function toRows(r: Reservation, createdAt: string, expiresAt: string): BudgetReservationsTable[] {
  return r.items.map((it) => ({
    id: r.id,
    budget_id: it.budgetId,
    period_start: it.periodStart,
    client_id: r.clientId,
    key_id: r.keyId,
    node_id: it.nodeId,
    epoch: it.epoch,
    endpoint: r.endpoint,
    price_micros: r.priceMicros,
    created_at: createdAt,
    expires_at: expiresAt,
    settled_at: null,
    settled_by: null,
    released_at: null,
  }));
}

/**
 * The client's reservations among `ids` not settled yet (released ones too: their late report
 * is still counted). Unknown, settled and other clients' ids are simply absent.
 */
async function findOpen(
  db: Kysely<Database>,
  clientId: string,
  ids: string[],
): Promise<Reservation[]> {
  if (!ids.length) return [];
  const rows = await db
    .selectFrom('budget_reservations')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('id', 'in', ids)
    .where('settled_at', 'is', null)
    .orderBy('id')
    .orderBy('budget_id')
    .execute();
  const byId = new Map<string, Reservation>();
  for (const r of rows) {
    let res = byId.get(r.id);
    if (!res) {
      res = {
        id: r.id,
        clientId,
        keyId: r.key_id,
        endpoint: r.endpoint,
        priceMicros: Number(r.price_micros),
        items: [],
      };
      byId.set(r.id, res);
    }
    res.items.push({
      budgetId: r.budget_id,
      periodStart: r.period_start,
      nodeId: r.node_id,
      epoch: Number(r.epoch),
    });
  }
  return [...byId.values()];
}

/**
 * Releases one reservation whose report did not come in time: claimed first (as a report's
 * settlement claims it, so the two never both count it), then, per budget in id order under
 * the spend row's lock, its price leaves its hold and the spend — unless the hold was given
 * back meanwhile (its node fell silent): then the price went with it. False: settled first.
 */
async function release(
  db: Kysely<Database>,
  clientId: string,
  id: string,
  now: string,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable('budget_reservations')
      .set({ released_at: now })
      .where('client_id', '=', clientId)
      .where('id', '=', id)
      .where('settled_at', 'is', null)
      .where('released_at', 'is', null)
      .returning(['budget_id', 'period_start', 'node_id', 'epoch', 'price_micros'])
      .execute();
    rows.sort((a, b) => (a.budget_id < b.budget_id ? -1 : 1));
    for (const r of rows) {
      const micros = Number(r.price_micros);
      await lockSpend(trx, clientId, r.budget_id, r.period_start);
      const ref = {
        clientId,
        budgetId: r.budget_id,
        periodStart: r.period_start,
        nodeId: r.node_id,
        epoch: Number(r.epoch),
      };
      if (!(await takeFromHold(trx, ref, micros))) continue;
      await trx
        .updateTable('budget_spend')
        .set((eb) => ({ spent_micros: eb('spent_micros', '-', micros) }))
        .where('budget_id', '=', r.budget_id)
        .where('period_start', '=', r.period_start)
        .where('client_id', '=', clientId)
        .execute();
    }
    return rows.length > 0;
  });
}

/** The reservations of budget_reservations: written at verify, released by the sweep. */
export function createBudgetReservationStore(db: Kysely<Database>) {
  return {
    async insertReservation(r: Reservation, createdAt: string, expiresAt: string): Promise<void> {
      await db
        .insertInto('budget_reservations')
        .values(toRows(r, createdAt, expiresAt))
        .execute();
    },
    findOpenReservations: (clientId: string, ids: string[]) => findOpen(db, clientId, ids),
    /** Reservations past their expiry, neither settled nor released (any client's: the sweep's). */
    async expiredReservations(before: string, limit: number) {
      return db
        .selectFrom('budget_reservations')
        .select(['client_id as clientId', 'id'])
        .where('expires_at', '<', before)
        .where('settled_at', 'is', null)
        .where('released_at', 'is', null)
        .distinct()
        .limit(limit)
        .execute();
    },
    releaseReservation: (clientId: string, id: string, now: string) =>
      release(db, clientId, id, now),
    /**
     * Forgets settled reservations (settled before `settledBefore`) and released ones (before
     * `releasedBefore`): a report naming one later is like one naming an unknown reservation.
     */
    async pruneReservations(settledBefore: string, releasedBefore: string): Promise<void> {
      await db
        .deleteFrom('budget_reservations')
        .where((eb) =>
          eb.or([
            eb('settled_at', '<', settledBefore),
            eb.and([eb('settled_at', 'is', null), eb('released_at', '<', releasedBefore)]),
          ]),
        )
        .execute();
    },
  };
}
