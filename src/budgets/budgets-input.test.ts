import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { budgetInput, budgetPatchInput } from './budgets-input.ts';

/** The first problem a parse reports, as `path: message`. */
function problem(result: { success: boolean; error?: z.ZodError }): string {
  expect(result.success).toBe(false);
  const issue = result.error!.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

describe('budget input', () => {
  it('reads the amount exactly, in currency units or micros, and defaults the mode to hard', () => {
    expect(budgetInput.parse({ amount: '100.00', period: 'month' })).toEqual({
      amountMicros: 100_000_000,
      period: 'month',
      mode: 'hard',
    });
    expect(budgetInput.parse({ amount: 0.035, period: 'day', mode: 'soft' })).toMatchObject({
      amountMicros: 35_000,
      mode: 'soft',
    });
    expect(budgetInput.parse({ amount: '0.000001', period: 'week' }).amountMicros).toBe(1);
    // Micros win when both are given, as they always did.
    expect(budgetInput.parse({ amount: 1, amountMicros: 7, period: 'billing' }).amountMicros).toBe(
      7,
    );
  });

  it('refuses an amount that is missing, not positive, not a decimal or too precise', () => {
    expect(problem(budgetInput.safeParse({ period: 'day' }))).toBe(
      'amount: amount (or amountMicros) is required',
    );
    expect(problem(budgetInput.safeParse({ amount: 0, period: 'day' }))).toBe(
      'amount: the amount must be a positive amount of money',
    );
    expect(problem(budgetInput.safeParse({ amount: '-3', period: 'day' }))).toBe(
      'amount: the amount must be a positive amount of money',
    );
    expect(problem(budgetInput.safeParse({ amount: '1.0000001', period: 'day' }))).toMatch(
      /^amount: not a decimal amount with at most 6 decimals/,
    );
    expect(problem(budgetInput.safeParse({ amount: 'ten', period: 'day' }))).toMatch(/^amount: /);
    expect(problem(budgetInput.safeParse({ amount: 2e9, period: 'day' }))).toMatch(/^amount: /);
    expect(problem(budgetInput.safeParse({ amountMicros: 1.5, period: 'day' }))).toMatch(
      /^amountMicros: /,
    );
    expect(problem(budgetInput.safeParse({ amountMicros: 0, period: 'day' }))).toMatch(
      /^amountMicros: /,
    );
  });

  it('takes only the periods and modes it knows, and no other field', () => {
    for (const period of ['day', 'week', 'month', 'billing']) {
      expect(budgetInput.parse({ amount: 1, period }).period).toBe(period);
    }
    expect(problem(budgetInput.safeParse({ amount: 1, period: 'year' }))).toMatch(/^period: /);
    expect(problem(budgetInput.safeParse({ amount: 1 }))).toMatch(/^period: /);
    expect(problem(budgetInput.safeParse({ amount: 1, period: 'day', mode: 'strict' }))).toMatch(
      /^mode: /,
    );
    // The key is named by the route or the --key flag, never by the body.
    expect(budgetInput.safeParse({ amount: 1, period: 'day', keyId: 'key_x' }).success).toBe(false);
  });

  it('sorts thresholds and drops repeats; whole percentages 1-1000, at most 10', () => {
    const parse = (thresholds: unknown) =>
      budgetInput.safeParse({ amount: 1, period: 'day', thresholds });
    expect(parse([100, 50, 80, 50]).data?.thresholds).toEqual([50, 80, 100]);
    expect(parse([1000]).data?.thresholds).toEqual([1000]);
    expect(parse([]).data?.thresholds).toEqual([]);
    for (const bad of [
      [0],
      [1001],
      [50.5],
      [Number.NaN],
      ['50'],
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    ]) {
      expect(problem(parse(bad)), JSON.stringify(bad)).toMatch(/^thresholds/);
    }
  });
});

describe('budget patch input', () => {
  it('changes only what is given, with the same checks as a new budget', () => {
    expect(budgetPatchInput.parse({})).toEqual({ amountMicros: undefined });
    expect(budgetPatchInput.parse({ mode: 'soft' })).toEqual({
      mode: 'soft',
      amountMicros: undefined,
    });
    expect(budgetPatchInput.parse({ amount: '20', thresholds: [90, 10] })).toEqual({
      amountMicros: 20_000_000,
      thresholds: [10, 90],
    });
    expect(problem(budgetPatchInput.safeParse({ amount: 0 }))).toBe(
      'amount: the amount must be a positive amount of money',
    );
    expect(problem(budgetPatchInput.safeParse({ mode: 'strict' }))).toMatch(/^mode: /);
    // A period is chosen once: changing it would be a new budget.
    expect(budgetPatchInput.safeParse({ period: 'day' }).success).toBe(false);
  });
});
