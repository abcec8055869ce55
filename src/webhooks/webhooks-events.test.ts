import { describe, expect, it } from 'vitest';
import { BUDGET_MODES, BUDGET_PERIODS } from '../budgets/budgets-types.ts';
import { budgetEventMode, budgetEventPeriod, EVENT_SCHEMAS } from './webhooks-events.ts';

describe('budget event schema', () => {
  it("states exactly the budgets module's periods and modes", () => {
    expect(budgetEventPeriod.options).toEqual([...BUDGET_PERIODS]);
    expect(budgetEventMode.options).toEqual([...BUDGET_MODES]);
  });

  it('carries every period and mode through a budget.threshold payload', () => {
    for (const period of BUDGET_PERIODS) {
      for (const mode of BUDGET_MODES) {
        const data = {
          budget: { id: 'bud_1', keyId: null, period, mode, amountMicros: 1, currency: 'EUR' },
          threshold: 80,
          periodStart: '2026-01-01T00:00:00.000Z',
          periodEnd: '2026-02-01T00:00:00.000Z',
          spentMicros: 1,
        };
        expect(EVENT_SCHEMAS['budget.threshold'].data.parse(data)).toEqual(data);
      }
    }
  });
});
