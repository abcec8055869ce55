import { describe, expect, it } from 'vitest';
import { createBudgetRules } from '../src/budgets/budgets-rules.ts';
import { createBudgetsStore } from '../src/budgets/budgets-store.ts';
import { createLogger } from '../src/infra/logger.ts';
import { systemClock } from '../src/lib/clock.ts';
import { logCapture } from './support/harness.ts';
import { createTestStore, ENGINES } from './support/stores.ts';

// A short-lived CLI command builds every service and closes them at once. The budget rules
// load "which clients have budgets" at start; that load must end before the database does, or
// it fails against a destroyed driver and logs a warning into the command's stderr.
describe.each(ENGINES)('budget rules closed right after start on %s', (engine) => {
  it('finish their first load before close resolves, and never retry after it', async () => {
    const t = await createTestStore(engine);
    const logs = logCapture();
    const rules = createBudgetRules({
      budgetsStore: createBudgetsStore(t.store.db),
      clock: systemClock,
      logger: createLogger({ level: 'info', destination: logs.stream }),
      changes: null,
      frequencyOf: async () => 'weekly',
      onChange: () => {},
    });
    await rules.close();
    await t.close();
    await rules.ready();
    expect(logs.text()).not.toContain('could not load the clients with budgets');
    expect(rules.watches('anyone')).toBe(false);
  });
});
