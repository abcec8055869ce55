import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudgetGate, type BudgetGate } from '../src/budgets/budgets-gate.ts';
import { LEASE_GRACE_MS } from '../src/budgets/budgets-leases.ts';
import { createBudgetsStore } from '../src/budgets/budgets-store.ts';
import type { BudgetDecision, BudgetHold } from '../src/budgets/budgets-types.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const PRICE = 10_000;
const ACTOR = { type: 'system' as const, id: 'test' };

/**
 * Budget leases: a node takes a slice of a budget with the conditional UPDATE and spends it
 * without a query. Two gates on one database are two nodes (each its own node id and leases).
 */
describe.each(ENGINES)('budget leases on %s', (engine) => {
  let h: Harness;
  const extra: BudgetGate[] = [];
  beforeAll(async () => {
    h = await createHarness(engine, { file: { pricing: { 'GET /v1/health': '0.01', '*': 0 } } });
  });
  afterAll(async () => {
    for (const g of extra) g.close();
    await h?.close();
  });

  /** Another node: its own gate on the same database. */
  async function otherNode(): Promise<BudgetGate> {
    const gate = createBudgetGate({
      budgetsStore: createBudgetsStore(h.services.store.db),
      clock: systemClock,
      logger: h.services.logger,
      changes: null,
      priceOf: () => PRICE,
      frequencyOf: async () => 'weekly',
      onReached: async () => undefined,
    });
    extra.push(gate);
    await gate.ready();
    return gate;
  }

  async function newBudget(name: string, amountMicros: number) {
    const { client, key } = await h.services.clients.create(
      { name, email: `${name.toLowerCase()}@example.com` },
      ACTOR,
    );
    const budget = await h.services.budgets.create(
      client.id,
      { amountMicros, period: 'month', mode: 'hard' },
      ACTOR,
    );
    const auth = {
      clientId: client.id,
      clientName: name,
      clientTier: 'default',
      keyId: key.id,
      environment: 'live' as const,
      scopes: ['*'],
      rateLimit: null,
      meta: {},
    };
    return { clientId: client.id, budgetId: budget.id, auth };
  }

  const db = () => h.services.store.db;
  const reservedIn = async (budgetId: string) =>
    Number(
      (
        await db()
          .selectFrom('budget_spend')
          .select('spent_micros')
          .where('budget_id', '=', budgetId)
          .executeTakeFirst()
      )?.spent_micros ?? 0,
    );
  const leasesOf = (budgetId: string) =>
    db().selectFrom('budget_leases').selectAll().where('budget_id', '=', budgetId).execute();
  const spentOf = async (clientId: string, budgetId: string) =>
    (await h.services.budgets.get(clientId, budgetId)).current.spentMicros;

  it('calls are taken out of a lease: the database holds the lease, the API shows the spend, the rest comes back', async () => {
    const b = await newBudget('Leased', 100_000_000);
    const gate = h.services.budgets.gate;
    const first = await gate.reserve(b.auth, 'GET /v1/health');
    expect(first).toMatchObject({ allowed: true });
    // The next calls are decided without waiting: out of the lease, no query.
    for (let i = 0; i < 5; i++) {
      const d = gate.reserve(b.auth, 'GET /v1/health');
      expect(d).not.toBeInstanceOf(Promise);
      expect(d).toMatchObject({ allowed: true });
    }
    const leases = await leasesOf(b.budgetId);
    expect(leases).toHaveLength(1);
    expect(await reservedIn(b.budgetId)).toBe(Number(leases[0]!.micros));
    expect(Number(leases[0]!.micros)).toBeGreaterThan(6 * PRICE);
    expect(await spentOf(b.clientId, b.budgetId)).toBe(6 * PRICE);
    // A server error is not priced: its price goes back into the lease.
    gate.settle((first as Extract<BudgetDecision, { allowed: true }>).hold, 503);
    expect(await spentOf(b.clientId, b.budgetId)).toBe(5 * PRICE);
    await gate.releaseLeases();
    expect(await leasesOf(b.budgetId)).toEqual([]);
    expect(await reservedIn(b.budgetId)).toBe(5 * PRICE);
  });

  it('a refund after its lease went back is given back in the database', async () => {
    const b = await newBudget('LateRefund', 100_000_000);
    const gate = h.services.budgets.gate;
    const d = (await gate.reserve(b.auth, 'GET /v1/health')) as { hold: BudgetHold };
    await gate.releaseLeases();
    expect(await reservedIn(b.budgetId)).toBe(PRICE);
    gate.settle(d.hold, 500);
    await gate.drain();
    expect(await reservedIn(b.budgetId)).toBe(0);
  });

  it('no call is refused while another node still holds unused lease: it waits for it to come back', async () => {
    const amount = 10_000_000; // 1,000 calls
    const b = await newBudget('TwoNodes', amount);
    const a = await otherNode();
    const other = await otherNode();
    // Node a takes a lease and uses one call of it; the rest stays reserved in the database.
    expect(await a.reserve(b.auth, 'GET /v1/health')).toMatchObject({ allowed: true });
    const held = Number((await leasesOf(b.budgetId))[0]!.micros) - PRICE;
    expect(held).toBeGreaterThan(PRICE);
    // Node b spends everything else, one call at a time, until refused.
    let served = 0;
    for (;;) {
      const d = await other.reserve(b.auth, 'GET /v1/health');
      if (!d?.allowed) break;
      served++;
      expect(served).toBeLessThanOrEqual(1_000);
    }
    // Refused only once a's lease had come back (at its expiry) and the whole budget was used.
    expect(served).toBe(999);
    await a.drain();
    await other.releaseLeases();
    expect(await reservedIn(b.budgetId)).toBe(amount);
    expect(await leasesOf(b.budgetId)).toEqual([]);
    expect(await spentOf(b.clientId, b.budgetId)).toBe(amount);
  });

  it('a lease of a node that died is dropped once stale and stays spent; the refusal does not wait for it', async () => {
    const amount = 1_000_000;
    const b = await newBudget('DeadNode', amount);
    // What a node killed with SIGKILL leaves: a lease row, counted in the spend, never returned.
    const expired = new Date(Date.now() - LEASE_GRACE_MS - 1_000).toISOString();
    const periodStart = (await h.services.budgets.get(b.clientId, b.budgetId)).current.periodStart;
    await db()
      .insertInto('budget_spend')
      .values({
        budget_id: b.budgetId,
        period_start: periodStart,
        client_id: b.clientId,
        spent_micros: 995_000,
      })
      .execute();
    await db()
      .insertInto('budget_leases')
      .values({
        lease_id: 'dead-lease',
        budget_id: b.budgetId,
        period_start: periodStart,
        client_id: b.clientId,
        node_id: 'dead-node',
        micros: 80_000,
        expires_at: expired,
      })
      .execute();
    const node = await otherNode();
    const started = performance.now();
    expect(await node.reserve(b.auth, 'GET /v1/health')).toMatchObject({ allowed: false });
    expect(performance.now() - started).toBeLessThan(LEASE_GRACE_MS);
    expect(await leasesOf(b.budgetId)).toEqual([]);
    expect(await reservedIn(b.budgetId)).toBe(995_000);
  });
});
