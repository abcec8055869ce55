import { type BillingFrequency, periodContaining } from '../billing/index.ts';
import type { BudgetPeriod } from './budgets-types.ts';

const DAY_MS = 86_400_000;

/**
 * The period of a budget that contains `nowMs`, as [start, end) in epoch ms (UTC): a day, an ISO
 * week (Monday 00:00), a calendar month, or the client's billing period (its invoice week or
 * month, the same periods invoices use).
 */
export function periodBounds(
  period: BudgetPeriod,
  frequency: BillingFrequency,
  nowMs: number,
): { start: number; end: number } {
  if (period === 'day') {
    const start = Math.floor(nowMs / DAY_MS) * DAY_MS;
    return { start, end: start + DAY_MS };
  }
  const kind: BillingFrequency =
    period === 'week' ? 'weekly' : period === 'month' ? 'monthly' : frequency;
  const p = periodContaining(kind, new Date(nowMs));
  return { start: p.start.getTime(), end: p.end.getTime() };
}

/** The thresholds (percent) reached by `spent` of `amount`, ascending. */
export function reachedThresholds(
  thresholds: readonly number[],
  amountMicros: number,
  spentMicros: number,
): number[] {
  // Integer arithmetic: spent/amount ≥ t/100 ⇔ spent·100 ≥ t·amount (both < 2^53 for sane budgets).
  return thresholds.filter((t) => spentMicros * 100 >= t * amountMicros);
}
