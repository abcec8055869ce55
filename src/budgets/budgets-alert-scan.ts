import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import type { BudgetsTable } from './budgets-types.ts';

/** One budget period with spend, for the alert sweep. */
export interface AlertScanRow {
  budget: BudgetsTable;
  periodStart: string;
  /** spend reserved, minus every lease outstanding on the period (never more than was spent) */
  spentMicros: number;
  /** a hard budget that refused a call for lack of room: its thresholds up to 100 % are reached */
  full: boolean;
  alerted: number[];
}

/**
 * Every budget period with spend since `since` (ISO), across clients — what the alert sweep
 * checks for thresholds reached but never claimed (the node that crossed one died first).
 */
export async function scanForAlerts(db: Kysely<Database>, since: string): Promise<AlertScanRow[]> {
  const rows = await db
    .selectFrom('budget_spend as s')
    .innerJoin('budgets as b', (j) =>
      j.onRef('b.id', '=', 's.budget_id').onRef('b.client_id', '=', 's.client_id'),
    )
    .selectAll('b')
    .select([
      's.period_start as spend_period',
      's.spent_micros as spend_micros',
      's.full_at as spend_full_at',
    ])
    .where('s.period_start', '>=', since)
    .where('s.spent_micros', '>', 0)
    .execute();
  if (!rows.length) return [];
  const [leases, alerts] = await Promise.all([
    db
      .selectFrom('budget_leases')
      .select(['budget_id', 'period_start', (eb) => eb.fn.sum<number>('micros').as('micros')])
      .where('period_start', '>=', since)
      .groupBy(['budget_id', 'period_start'])
      .execute(),
    db
      .selectFrom('budget_alerts')
      .select(['budget_id', 'period_start', 'threshold'])
      .where('period_start', '>=', since)
      .execute(),
  ]);
  const key = (budgetId: string, periodStart: string) => `${budgetId}|${periodStart}`;
  const leased = new Map(leases.map((l) => [key(l.budget_id, l.period_start), Number(l.micros)]));
  const alerted = new Map<string, number[]>();
  for (const a of alerts) {
    const k = key(a.budget_id, a.period_start);
    alerted.set(k, [...(alerted.get(k) ?? []), Number(a.threshold)]);
  }
  return rows.map(({ spend_period, spend_micros, spend_full_at, ...budget }) => {
    const k = key(budget.id, spend_period);
    return {
      budget,
      periodStart: spend_period,
      spentMicros: Math.max(0, Number(spend_micros) - (leased.get(k) ?? 0)),
      full: budget.mode === 'hard' && !!spend_full_at,
      alerted: alerted.get(k) ?? [],
    };
  });
}
