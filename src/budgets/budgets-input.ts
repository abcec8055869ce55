import { z } from 'zod';
import { MAX_MONEY_MICROS, MICROS_PER_UNIT, toMicros } from '../lib/money.ts';
import { BUDGET_MODES, BUDGET_PERIODS } from './budgets-types.ts';

/**
 * The one check of what a budget is set or changed with (issue 19): the admin API's bodies and
 * the CLI's flags both parse through these schemas, so the budgets service gets typed input
 * (the amount already in micros, thresholds sorted) and checks only the rules: the client and
 * the key exist, the budget is the client's.
 */

/** Whole percentages from 1 to 1000, at most 10; the output is sorted, without repeats. */
const thresholds = z
  .array(z.number().int().min(1).max(1000))
  .max(10)
  .transform((list) => [...new Set(list)].sort((a, b) => a - b))
  .optional()
  .describe('alert percentages (default 50, 80, 100)');

const amountFields = {
  amount: z
    .union([
      z
        .number()
        .min(0)
        .max(MAX_MONEY_MICROS / MICROS_PER_UNIT),
      z.string().max(40),
    ])
    .optional()
    .describe("in the client's currency, at most 6 decimals")
    .meta({ example: '100.00' }),
  amountMicros: z
    .number()
    .int()
    .positive()
    .max(MAX_MONEY_MICROS)
    .optional()
    .describe('or the amount in micro-units'),
};

type AmountFields = { amount?: number | string; amountMicros?: number };

/**
 * The amount in micros: `amountMicros`, else the decimal `amount` read exactly (README, Money).
 * It must be positive; a problem is an issue on `amount` and the parse fails.
 */
function amountMicrosOf(value: AmountFields, ctx: z.RefinementCtx): number {
  if (value.amountMicros !== undefined) return value.amountMicros;
  const refuse = (message: string) => {
    ctx.addIssue({ code: 'custom', path: ['amount'], message });
    return z.NEVER;
  };
  if (value.amount === undefined) return refuse('amount (or amountMicros) is required');
  let micros: number;
  try {
    micros = toMicros(value.amount);
  } catch (err) {
    return refuse((err as Error).message);
  }
  return micros > 0 ? micros : refuse('the amount must be a positive amount of money');
}

/** A new budget (on a client, or on one of its keys: the key is named by the caller). */
export const budgetInput = z
  .object({
    ...amountFields,
    thresholds,
    period: z
      .enum(BUDGET_PERIODS)
      .describe("day, week (ISO), month, or the client's billing period"),
    mode: z.enum(BUDGET_MODES).default('hard').describe('hard: refuse calls that would exceed it'),
  })
  .strict()
  .transform(({ amount, amountMicros, ...rest }, ctx) => ({
    ...rest,
    amountMicros: amountMicrosOf({ amount, amountMicros }, ctx),
  }));

/** A change to a budget: only what is given changes. */
export const budgetPatchInput = z
  .object({ ...amountFields, thresholds, mode: z.enum(BUDGET_MODES).optional() })
  .strict()
  .transform(({ amount, amountMicros, ...rest }, ctx) => ({
    ...rest,
    amountMicros:
      amount === undefined && amountMicros === undefined
        ? undefined
        : amountMicrosOf({ amount, amountMicros }, ctx),
  }));

/**
 * What the service creates a budget from: checked by `budgetInput`, plus the key it applies
 * to (`null` or absent: the whole client). No thresholds: the defaults (50, 80, 100).
 */
export type BudgetInput = z.output<typeof budgetInput> & { keyId?: string | null };

/** What the service changes a budget with: checked by `budgetPatchInput`. */
export type BudgetPatch = z.output<typeof budgetPatchInput>;
