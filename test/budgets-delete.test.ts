import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const actor = { type: 'system' as const, id: 'test' };

/** A budget removed takes every row of its parts with it; so does a deleted client. */
describe.each(ENGINES)('deleting budgets on %s', (engine) => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function spentBudget(harness: Harness, clientId: string) {
    const budget = await harness.services.budgets.create(
      clientId,
      { amountMicros: 100_000, period: 'month', mode: 'hard' },
      actor,
    );
    await harness.services.store.db
      .insertInto('budget_spend')
      .values({
        budget_id: budget.id,
        period_start: budget.current.periodStart,
        client_id: clientId,
        spent_micros: 60_000,
      })
      .execute();
    await harness.services.budgets.sweepAlerts();
    // A reservation made through POST /admin/v1/verify, waiting for its report.
    await harness.services.store.db
      .insertInto('budget_reservations')
      .values({
        id: `bres_${budget.id.slice(4)}`,
        budget_id: budget.id,
        period_start: budget.current.periodStart,
        client_id: clientId,
        key_id: 'key_x',
        node_id: 'node',
        epoch: 1,
        endpoint: 'GET /v1/health',
        price_micros: 10_000,
        created_at: budget.createdAt,
        expires_at: budget.createdAt,
        settled_at: null,
        settled_by: null,
        released_at: null,
      })
      .execute();
    return budget;
  }

  /**
   * Every table that holds part of a budget (a budget_id column), read from the migrated
   * schema: a budget table added later without joining the delete list fails this test.
   */
  async function partTables(harness: Harness) {
    const tables = await harness.services.store.db.introspection.getTables();
    const parts = tables
      .filter((t) => t.name !== 'budgets' && t.columns.some((c) => c.name === 'budget_id'))
      .map((t) => t.name as 'budget_spend');
    expect(parts.length).toBeGreaterThanOrEqual(6);
    return parts;
  }

  async function rowsOf(harness: Harness, column: 'budget_id' | 'client_id', value: string) {
    let n = 0;
    for (const table of await partTables(harness)) {
      const rows = await harness.services.store.db
        .selectFrom(table)
        .select('client_id')
        .where(column, '=', value)
        .execute();
      n += rows.length;
    }
    return n;
  }

  it('a deleted budget leaves no spend or alert behind; its client keeps the others', async () => {
    h = await createHarness(engine, { file: { pricing: { '*': 0 } } });
    const { client } = await h.services.clients.create(
      { name: 'B', email: 'b@example.com' },
      actor,
    );
    const doomed = await spentBudget(h, client.id);
    const kept = await spentBudget(h, client.id);
    expect(await rowsOf(h, 'budget_id', doomed.id)).toBeGreaterThanOrEqual(3);
    await h.services.budgets.delete(client.id, doomed.id, actor);
    expect(await rowsOf(h, 'budget_id', doomed.id)).toBe(0);
    expect(await rowsOf(h, 'budget_id', kept.id)).toBeGreaterThanOrEqual(3);
  });

  it('a deleted client leaves no budget or part of one behind', async () => {
    h = await createHarness(engine, { file: { pricing: { '*': 0 } } });
    const { client } = await h.services.clients.create(
      { name: 'C', email: 'c@example.com' },
      actor,
    );
    await spentBudget(h, client.id);
    expect(await rowsOf(h, 'client_id', client.id)).toBeGreaterThanOrEqual(3);
    await h.services.clients.delete(client.id, actor);
    expect(await rowsOf(h, 'client_id', client.id)).toBe(0);
    const left = await h.services.store.db
      .selectFrom('budgets')
      .select('id')
      .where('client_id', '=', client.id)
      .execute();
    expect(left).toEqual([]);
  });
});
