import type { BillingFrequency } from '../billing/billing-types.ts';
import { periodContaining } from '../billing/billing-fns.ts';
import { AppError } from '../lib/errors.ts';
import { toMicros } from '../lib/money.ts';
import { DEFAULT_THRESHOLDS, type BudgetPeriod } from './budgets-types.ts';

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

/** Validates and sorts alert thresholds: whole percentages 1-1000, no repeats. */
export function normalizeThresholds(input: readonly number[] | undefined): number[] {
  const list = input ?? DEFAULT_THRESHOLDS;
  if (list.length > 10) throw new AppError('validation_failed', 'at most 10 thresholds');
  for (const t of list) {
    if (!Number.isInteger(t) || t < 1 || t > 1000) {
      throw new AppError('validation_failed', 'thresholds are whole percentages from 1 to 1000');
    }
  }
  return [...new Set(list)].sort((a, b) => a - b);
}

/** The amount of a budget in micros, from `amountMicros` or a decimal `amount`; must be > 0. */
export function amountOf(input: { amount?: number | string; amountMicros?: number }): number {
  let micros: number;
  if (input.amountMicros !== undefined) micros = input.amountMicros;
  else if (input.amount !== undefined) {
    try {
      micros = toMicros(input.amount);
    } catch (err) {
      throw new AppError('validation_failed', `amount: ${(err as Error).message}`);
    }
  } else throw new AppError('validation_failed', 'amount (or amountMicros) is required');
  if (!Number.isSafeInteger(micros) || micros <= 0) {
    throw new AppError('validation_failed', 'the amount must be a positive amount of money');
  }
  return micros;
}
