import { randomInt } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/database.ts';

type Q = Kysely<Database> | Transaction<Database>;

/** One SQL statement and its parameters, compiled here and run in the usage batch's transaction. */
export type BatchStatement = [sql: string, parameters: unknown[]];

/** Which hold a metered call's reservation came out of. */
export interface HoldRef {
  clientId: string;
  budgetId: string;
  periodStart: string;
  nodeId: string;
  epoch: number;
}

/** The opaque account a usage batch sums a call's cost under (usage knows nothing of budgets). */
export function holdAccount(h: HoldRef): string {
  return JSON.stringify([h.clientId, h.budgetId, h.periodStart, h.nodeId, h.epoch]);
}

export function parseAccount(account: string): HoldRef {
  const [clientId, budgetId, periodStart, nodeId, epoch] = JSON.parse(account) as [
    string,
    string,
    string,
    string,
    number,
  ];
  return { clientId, budgetId, periodStart, nodeId, epoch };
}

const newEpoch = () => randomInt(1, 2 ** 31);

export function holdRow(
  q: Q,
  clientId: string,
  budgetId: string,
  periodStart: string,
  nodeId: string,
) {
  return q
    .updateTable('budget_holds')
    .where('budget_id', '=', budgetId)
    .where('period_start', '=', periodStart)
    .where('node_id', '=', nodeId)
    .where('client_id', '=', clientId);
}

/** Adds a reservation to this node's hold (the caller added it to the spend); answers its epoch. */
export async function addHold(
  q: Q,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  nodeId: string,
  micros: number,
  at: string,
): Promise<number> {
  const row = await q
    .insertInto('budget_holds')
    .values({
      budget_id: item.budgetId,
      period_start: item.periodStart,
      node_id: nodeId,
      client_id: clientId,
      epoch: newEpoch(),
      held_micros: micros,
      seen_at: at,
    })
    .onConflict((oc) =>
      oc.columns(['budget_id', 'period_start', 'node_id']).doUpdateSet((eb) => ({
        held_micros: eb('budget_holds.held_micros', '+', micros),
        seen_at: at,
      })),
    )
    .returning('epoch')
    .executeTakeFirstOrThrow();
  return Number(row.epoch);
}

/**
 * Takes a reservation out of its hold (given back or settled). False when the hold's epoch
 * moved on: it was given back for a silent node, this reservation with it.
 */
export async function takeFromHold(q: Q, h: HoldRef, micros: number): Promise<boolean> {
  const r = await holdRow(q, h.clientId, h.budgetId, h.periodStart, h.nodeId)
    .where('epoch', '=', h.epoch)
    .set((eb) => ({ held_micros: eb('held_micros', '-', micros) }))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** A silent node's hold given back: whose, and how much. */
export interface GivenBack {
  nodeId: string;
  micros: number;
}

/**
 * Gives back the holds of nodes silent since `before` (no write, no heartbeat: the node died)
 * on one budget's period, each under a new epoch. Answers how much (and pushes each hold onto
 * `given`); the caller, holding the spend row's lock, takes it off the spend.
 */
export async function reclaimSilent(
  q: Q,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  before: string,
  given: GivenBack[] = [],
): Promise<number> {
  const rows = await q
    .selectFrom('budget_holds')
    .select(['node_id', 'epoch', 'held_micros'])
    .where('client_id', '=', clientId)
    .where('budget_id', '=', item.budgetId)
    .where('period_start', '=', item.periodStart)
    .where('held_micros', '>', 0)
    .where('seen_at', '<', before)
    .execute();
  let total = 0;
  for (const r of rows) {
    // seen_at again: a heartbeat that committed since the select keeps its hold (PostgreSQL
    // checks the WHERE again on the row version it waited for).
    const done = await holdRow(q, clientId, item.budgetId, item.periodStart, r.node_id)
      .where('epoch', '=', r.epoch)
      .where('seen_at', '<', before)
      .set({ held_micros: 0, epoch: newEpoch() })
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) > 0) {
      total += Number(r.held_micros);
      given.push({ nodeId: r.node_id, micros: Number(r.held_micros) });
    }
  }
  return total;
}

/** What the other nodes hold on the period (reserved, not yet metered or given back). */
export async function heldByOthers(
  q: Q,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  nodeId: string,
): Promise<number> {
  const row = await q
    .selectFrom('budget_holds')
    .select((eb) => eb.fn.sum<number>('held_micros').as('held'))
    .where('client_id', '=', clientId)
    .where('budget_id', '=', item.budgetId)
    .where('period_start', '=', item.periodStart)
    .where('node_id', '!=', nodeId)
    .executeTakeFirst();
  return Number(row?.held ?? 0);
}

/** A compiled statement, as a usage batch runs it. */
export const compiled = (c: { sql: string; parameters: readonly unknown[] }): BatchStatement => [
  c.sql,
  [...c.parameters],
];

/** Locks a period's spend row (the first statement of every settlement on it). */
export function lockSpendWrite(db: Kysely<Database>, clientId: string, h: HoldPeriod) {
  return compiled(
    spendRowOf(db, clientId, h)
      .set((eb) => ({ spent_micros: eb.ref('spent_micros') }))
      .compile(),
  );
}

interface HoldPeriod {
  budgetId: string;
  periodStart: string;
}

export function spendRowOf(db: Kysely<Database>, clientId: string, h: HoldPeriod) {
  return db
    .updateTable('budget_spend')
    .where('budget_id', '=', h.budgetId)
    .where('period_start', '=', h.periodStart)
    .where('client_id', '=', clientId);
}

/** Whether the hold `h` names is still in its epoch (not given back for a silent node). */
export function holdLive(db: Kysely<Database>, h: HoldPeriod & { nodeId: string; epoch: number }) {
  return db
    .selectFrom('budget_holds')
    .select('budget_holds.epoch')
    .where('budget_holds.budget_id', '=', h.budgetId)
    .where('budget_holds.period_start', '=', h.periodStart)
    .where('budget_holds.node_id', '=', h.nodeId)
    .where('budget_holds.epoch', '=', h.epoch);
}

/**
 * The writes that settle metered calls' cost under one hold, run in the usage batch's
 * transaction: the spend row is locked, then the cost leaves the hold (it stays in the spend,
 * now metered), or, when the hold's epoch moved on (given back meanwhile), the cost is added to
 * the spend again. (budgets-ledger.ts orders them with the others.)
 */
export function holdSettlementWrites(db: Kysely<Database>, h: HoldRef, micros: number) {
  return [
    lockSpendWrite(db, h.clientId, h),
    compiled(
      spendRowOf(db, h.clientId, h)
        .set((eb) => ({ spent_micros: eb('spent_micros', '+', micros) }))
        .where((eb) => eb.not(eb.exists(holdLive(db, h))))
        .compile(),
    ),
    compiled(
      holdRow(db, h.clientId, h.budgetId, h.periodStart, h.nodeId)
        .where('epoch', '=', h.epoch)
        .set((eb) => ({ held_micros: eb('held_micros', '-', micros) }))
        .compile(),
    ),
  ];
}

/** The holds of budget_holds: moved with metering, kept alive by their node, reclaimed. */
export function createBudgetHoldStore(db: Kysely<Database>) {
  return {
    /**
     * This node is alive: its hold on the period is not given back to the budget. Only ever
     * moves seen_at forward: a heartbeat that waited (for a pool connection, for the row's
     * lock) must not write its older stamp over a reservation's newer one.
     */
    async heartbeat(
      clientId: string,
      item: { budgetId: string; periodStart: string },
      nodeId: string,
      at: string,
    ) {
      await holdRow(db, clientId, item.budgetId, item.periodStart, nodeId)
        .where('held_micros', '>', 0)
        .where('seen_at', '<', at)
        .set({ seen_at: at })
        .execute();
    },
    /** The periods with a hold silent since `before` (any client's: the sweep's). */
    async silentPeriods(before: string) {
      return db
        .selectFrom('budget_holds')
        .select(['client_id as clientId', 'budget_id as budgetId', 'period_start as periodStart'])
        .where('held_micros', '>', 0)
        .where('seen_at', '<', before)
        .distinct()
        .execute();
    },
    /** Holds that are empty and untouched since `before` (any client's: the sweep's). */
    async dropEmptyHolds(before: string): Promise<void> {
      await db
        .deleteFrom('budget_holds')
        .where('held_micros', '=', 0)
        .where('seen_at', '<', before)
        .execute();
    },
  };
}
