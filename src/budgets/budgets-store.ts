import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import { scanForAlerts } from './budgets-alert-scan.ts';
import {
  addHold,
  createBudgetHoldStore,
  takeFromHold,
  type HoldRef,
} from './budgets-hold-store.ts';
import { createBudgetLeaseStore, lockSpend } from './budgets-lease-store.ts';
import { ledgerWrites } from './budgets-ledger.ts';
import { createBudgetMailStore } from './budgets-mail-store.ts';
import { createBudgetReservationStore } from './budgets-reservation-store.ts';
import type { BudgetsTable } from './budgets-types.ts';

/** One reservation of `micros` on a budget's period; `limit` null = soft (never refused). */
export interface ReserveItem {
  budgetId: string;
  periodStart: string;
  micros: number;
  limit: number | null;
}

/**
 * Adds `micros` to one period's spend; for a hard budget only while it stays within `limit`
 * (one conditional UPDATE: atomic on SQLite and PostgreSQL, whatever the number of nodes).
 * Answers the spend after, or null when refused. The period's row is created on first use.
 */
async function reserveOne(
  q: Kysely<Database>,
  clientId: string,
  item: ReserveItem,
): Promise<number | null> {
  for (let attempt = 0; attempt < 2; attempt++) {
    let update = q
      .updateTable('budget_spend')
      .set((eb) => ({ spent_micros: eb('spent_micros', '+', item.micros) }))
      .where('budget_id', '=', item.budgetId)
      .where('period_start', '=', item.periodStart)
      .where('client_id', '=', clientId);
    if (item.limit !== null) {
      update = update.where((eb) => eb(eb('spent_micros', '+', item.micros), '<=', item.limit!));
    }
    const row = await update.returning('spent_micros').executeTakeFirst();
    if (row) return Number(row.spent_micros);
    if (attempt > 0) return null;
    // No row (first call of the period) or refused: make sure the row exists, then once more
    // (another call may have created it meanwhile: the second UPDATE decides).
    await q
      .insertInto('budget_spend')
      .values({
        budget_id: item.budgetId,
        period_start: item.periodStart,
        client_id: clientId,
        spent_micros: 0,
      })
      .onConflict((oc) => oc.columns(['budget_id', 'period_start']).doNothing())
      .execute();
  }
  return null;
}

/**
 * Reserves on every item or on none, in one transaction in budget id order (no deadlock
 * between two calls), each held by this node until metered (see budgets-hold-store.ts).
 * Answers the spend after each item and its hold's epoch, or the index of the item that refused.
 */
async function reserveAll(
  db: Kysely<Database>,
  clientId: string,
  items: ReserveItem[],
  holder: { nodeId: string; stamp: () => string },
): Promise<{ ok: true; spent: number[]; epochs: number[] } | { ok: false; refused: number }> {
  const order = items
    .map((_, i) => i)
    .sort((a, b) => (items[a]!.budgetId < items[b]!.budgetId ? -1 : 1));
  const refusal = new Error('refused');
  let refused = -1;
  try {
    return await db.transaction().execute(async (trx) => {
      const spent: number[] = new Array<number>(items.length);
      const epochs: number[] = new Array<number>(items.length);
      for (const i of order) {
        const item = items[i]!;
        const s = await reserveOne(trx, clientId, item);
        if (s === null) {
          refused = i;
          throw refusal;
        }
        spent[i] = s;
        epochs[i] = await addHold(trx, clientId, item, holder.nodeId, item.micros, holder.stamp());
      }
      return { ok: true as const, spent, epochs };
    });
  } catch (err) {
    if (err === refusal) return { ok: false, refused };
    throw err;
  }
}

/**
 * Gives back a reservation a call did not cost: out of its hold and the spend, unless the
 * hold was given back already (its node fell silent), reservation and all.
 */
async function release(db: Kysely<Database>, h: HoldRef, micros: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockSpend(trx, h.clientId, h.budgetId, h.periodStart);
    if (!(await takeFromHold(trx, h, micros))) return;
    await trx
      .updateTable('budget_spend')
      .set((eb) => ({ spent_micros: eb('spent_micros', '-', micros) }))
      .where('budget_id', '=', h.budgetId)
      .where('period_start', '=', h.periodStart)
      .where('client_id', '=', h.clientId)
      .execute();
  });
}

/** The budgets themselves: each a limit on a client or one of its keys. */
function createBudgetRowsStore(db: Kysely<Database>) {
  return {
    async insert(row: BudgetsTable): Promise<void> {
      await db.insertInto('budgets').values(row).execute();
    },
    async list(clientId: string): Promise<BudgetsTable[]> {
      return db
        .selectFrom('budgets')
        .selectAll()
        .where('client_id', '=', clientId)
        .orderBy('id')
        .execute();
    },
    async find(clientId: string, id: string): Promise<BudgetsTable | null> {
      const row = await db
        .selectFrom('budgets')
        .selectAll()
        .where('client_id', '=', clientId)
        .where('id', '=', id)
        .executeTakeFirst();
      return row ?? null;
    },
    async update(
      clientId: string,
      id: string,
      patch: Partial<Pick<BudgetsTable, 'amount_micros' | 'mode' | 'thresholds' | 'updated_at'>>,
    ): Promise<boolean> {
      const r = await db
        .updateTable('budgets')
        .set(patch)
        .where('client_id', '=', clientId)
        .where('id', '=', id)
        .executeTakeFirst();
      // A new amount may have room again: a period refused full is no longer known to be.
      if (patch.amount_micros !== undefined) {
        await db
          .updateTable('budget_spend')
          .set({ full_at: null })
          .where('client_id', '=', clientId)
          .where('budget_id', '=', id)
          .execute();
      }
      return Number(r.numUpdatedRows) > 0;
    },
    /** Budgets of a deleted key go with it. */
    async idsForKey(clientId: string, keyId: string): Promise<string[]> {
      const rows = await db
        .selectFrom('budgets')
        .select('id')
        .where('client_id', '=', clientId)
        .where('key_id', '=', keyId)
        .execute();
      return rows.map((r) => r.id);
    },
    /** Every client that has at least one budget: the hot path skips all others without a query. */
    async clientsWithBudgets(): Promise<string[]> {
      const rows = await db.selectFrom('budgets').select('client_id').distinct().execute();
      return rows.map((r) => r.client_id);
    },
  };
}

/** The tables that hold a budget's parts, each row keyed by client and budget. */
const BUDGET_PARTS = [
  'budget_spend',
  'budget_alerts',
  'budget_leases',
  'budget_holds',
  'budget_alert_mails',
  'budget_reservations',
] as const;

/** A budget removed goes with its spend, alerts and leases; so do a deleted client's. */
function createBudgetDeletes(db: Kysely<Database>) {
  return {
    async delete(clientId: string, id: string): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const r = await trx
          .deleteFrom('budgets')
          .where('client_id', '=', clientId)
          .where('id', '=', id)
          .executeTakeFirst();
        for (const table of BUDGET_PARTS) {
          await trx
            .deleteFrom(table)
            .where('client_id', '=', clientId)
            .where('budget_id', '=', id)
            .execute();
        }
        return Number(r.numDeletedRows) > 0;
      });
    },
    async deleteAllForClient(clientId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        for (const table of BUDGET_PARTS) {
          await trx.deleteFrom(table).where('client_id', '=', clientId).execute();
        }
        await trx.deleteFrom('budgets').where('client_id', '=', clientId).execute();
      });
    },
  };
}

/** Each budget period's spend: reserved before a call, given back when it costs less. */
function createBudgetSpendStore(db: Kysely<Database>) {
  return {
    /**
     * Reserves on every item or on none (see reserveAll).
     */
    reserve: (
      clientId: string,
      items: ReserveItem[],
      holder: { nodeId: string; stamp: () => string },
    ) => reserveAll(db, clientId, items, holder),
    /** Gives back what a call did not cost (a server error is not priced). */
    release: (h: HoldRef, micros: number) => release(db, h, micros),
    async spent(clientId: string, budgetId: string, periodStart: string): Promise<number> {
      const row = await db
        .selectFrom('budget_spend')
        .select('spent_micros')
        .where('client_id', '=', clientId)
        .where('budget_id', '=', budgetId)
        .where('period_start', '=', periodStart)
        .executeTakeFirst();
      return row ? Number(row.spent_micros) : 0;
    },
  };
}

/** The alerts fired, one row per (budget, period, threshold). */
function createBudgetAlertStore(db: Kysely<Database>) {
  return {
    async alerted(clientId: string, budgetId: string, periodStart: string): Promise<number[]> {
      const rows = await db
        .selectFrom('budget_alerts')
        .select('threshold')
        .where('client_id', '=', clientId)
        .where('budget_id', '=', budgetId)
        .where('period_start', '=', periodStart)
        .orderBy('threshold')
        .execute();
      return rows.map((r) => Number(r.threshold));
    },
    /**
     * Claims one alert inside `fn`'s transaction: true for exactly one caller per (budget,
     * period, threshold), whichever node; `fn` runs only for it (the webhook outbox row).
     */
    async claimAlert(
      clientId: string,
      alert: {
        budgetId: string;
        periodStart: string;
        threshold: number;
        spent: number;
        at: string;
      },
      fn: (trx: Transaction<Database>) => Promise<void>,
    ): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const r = await trx
          .insertInto('budget_alerts')
          .values({
            budget_id: alert.budgetId,
            period_start: alert.periodStart,
            threshold: alert.threshold,
            client_id: clientId,
            spent_micros: alert.spent,
            fired_at: alert.at,
          })
          .onConflict((oc) => oc.columns(['budget_id', 'period_start', 'threshold']).doNothing())
          .executeTakeFirst();
        const won = Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
        if (won) await fn(trx);
        return won;
      });
    },
  };
}

/**
 * Budgets' tables only. Every method takes the client id: a budget of another client is never
 * read or changed, whatever id is passed (the alert scan, across clients, is the sweep's).
 */
export function createBudgetsStore(db: Kysely<Database>) {
  return {
    ...createBudgetRowsStore(db),
    ...createBudgetDeletes(db),
    ...createBudgetSpendStore(db),
    ...createBudgetAlertStore(db),
    ...createBudgetLeaseStore(db),
    ...createBudgetHoldStore(db),
    ...createBudgetMailStore(db),
    ...createBudgetReservationStore(db),
    /**
     * What a usage batch runs in its transaction to settle the calls it meters: this node's
     * holds and the reported calls' reservations (see budgets-ledger.ts); `at` is now (ISO).
     */
    settlementWrites: (entries: Array<[string, number]>, at: string) =>
      ledgerWrites(db, entries, at),
    scanForAlerts: (since: string) => scanForAlerts(db, since),
  };
}

export type BudgetsStore = ReturnType<typeof createBudgetsStore>;
