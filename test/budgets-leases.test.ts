import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudgetGate, type BudgetGate } from '../src/budgets/budgets-gate.ts';
import { holdAccount } from '../src/budgets/budgets-hold-store.ts';
import { HOLD_RECLAIM_MS, LEASE_GRACE_MS } from '../src/budgets/budgets-leases.ts';
import { createBudgetsStore } from '../src/budgets/budgets-store.ts';
import type { BudgetDecision, BudgetHold } from '../src/budgets/budgets-types.ts';
import { createManualClock, systemClock, type Clock } from '../src/lib/clock.ts';
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
  async function otherNode(clock: Clock = systemClock): Promise<BudgetGate> {
    const gate = createBudgetGate({
      budgetsStore: createBudgetsStore(h.services.store.db),
      clock,
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

  /** A call metered as the HTTP face does: its settlement goes with its usage event. */
  function meter(
    b: { clientId: string; auth: { keyId: string } },
    requestId: string,
    ledger?: Array<{ account: string; micros: number }>,
  ) {
    h.services.usage.record({
      requestId,
      clientId: b.clientId,
      keyId: b.auth.keyId,
      endpoint: 'GET /v1/health',
      method: 'GET',
      status: 200,
      environment: 'live',
      durationMs: 1,
      ledger,
    });
  }

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
    // Node a takes a lease and uses one call of it (metered at once); the rest stays reserved.
    const first = await a.reserve(b.auth, 'GET /v1/health');
    expect(first).toMatchObject({ allowed: true });
    const held = Number((await leasesOf(b.budgetId))[0]!.micros) - PRICE;
    expect(held).toBeGreaterThan(PRICE);
    meter(b, 'req_two_nodes_a', a.settle((first as { hold: BudgetHold }).hold, 200));
    await h.services.usage.flush();
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

  /** What a node killed with SIGKILL leaves: reservations in its hold, counted in the spend. */
  async function deadHold(
    b: { clientId: string; budgetId: string },
    o: { spent: number; held: number; silentMs: number },
  ) {
    const periodStart = (await h.services.budgets.get(b.clientId, b.budgetId)).current.periodStart;
    await db()
      .insertInto('budget_spend')
      .values({
        budget_id: b.budgetId,
        period_start: periodStart,
        client_id: b.clientId,
        spent_micros: o.spent,
      })
      .execute();
    await db()
      .insertInto('budget_holds')
      .values({
        budget_id: b.budgetId,
        period_start: periodStart,
        node_id: 'dead-node',
        client_id: b.clientId,
        epoch: 7,
        held_micros: o.held,
        seen_at: new Date(Date.now() - o.silentMs).toISOString(),
      })
      .execute();
    return { periodStart };
  }
  const holdsOf = (budgetId: string) =>
    db().selectFrom('budget_holds').selectAll().where('budget_id', '=', budgetId).execute();

  it("a dead node's hold goes back to the budget, and a late settlement of it is still counted", async () => {
    const b = await newBudget('DeadHold', 1_000_000);
    // 995,000 reserved, of which 80,000 by a node silent for longer than HOLD_RECLAIM_MS.
    const { periodStart } = await deadHold(b, {
      spent: 995_000,
      held: 80_000,
      silentMs: HOLD_RECLAIM_MS + 1_000,
    });
    const node = await otherNode();
    expect(await node.reserve(b.auth, 'GET /v1/health')).toMatchObject({ allowed: true });
    expect(await reservedIn(b.budgetId)).toBe(995_000 - 80_000 + PRICE);
    const dead = (await holdsOf(b.budgetId)).find((r) => r.node_id === 'dead-node')!;
    expect(Number(dead.held_micros)).toBe(0);
    expect(Number(dead.epoch)).not.toBe(7);
    // The dead node's usage batch commits after all (it was in flight): its call is counted.
    meter(b, 'req_late_settlement', [
      {
        account: holdAccount({
          clientId: b.clientId,
          budgetId: b.budgetId,
          periodStart,
          nodeId: 'dead-node',
          epoch: 7,
        }),
        micros: PRICE,
      },
    ]);
    await h.services.usage.flush();
    expect(await reservedIn(b.budgetId)).toBe(995_000 - 80_000 + 2 * PRICE);
    expect(
      Number((await holdsOf(b.budgetId)).find((r) => r.node_id === 'dead-node')!.held_micros),
    ).toBe(0);
  });

  it("a metered call moves out of its node's hold in the usage batch's transaction, once", async () => {
    const b = await newBudget('Settled', 100_000_000);
    const node = await otherNode();
    const d = (await node.reserve(b.auth, 'GET /v1/health')) as { allowed: true; hold: BudgetHold };
    await node.releaseLeases();
    const mine = async () => Number((await holdsOf(b.budgetId))[0]!.held_micros);
    expect(await mine()).toBe(PRICE);
    const ledger = node.settle(d.hold, 200);
    meter(b, 'req_settled_once', ledger);
    await h.services.usage.flush();
    expect(await mine()).toBe(0);
    expect(await reservedIn(b.budgetId)).toBe(PRICE);
  });

  it("a refusal waits while another node's hold would let the call fit (a dead node's comes back)", async () => {
    const b = await newBudget('SilentHold', 1_000_000);
    // Full but for a dead node's 50,000, not yet silent long enough to be given back.
    await deadHold(b, { spent: 1_000_000, held: 50_000, silentMs: HOLD_RECLAIM_MS - 2_000 });
    const node = await otherNode();
    expect(await node.reserve(b.auth, 'GET /v1/health')).toMatchObject({ allowed: true });
    expect(await reservedIn(b.budgetId)).toBe(1_000_000 - 50_000 + PRICE);
  });

  it('a hard budget that stops short of its amount counts as reached: the sweep fires 100 % once', async () => {
    // 25,000 at 10,000 a call: two fit, the third is refused 5,000 short of 100 %.
    const b = await newBudget('StopsShort', 25_000);
    // A node that claims nothing (it dies before claiming): only the sweep can fire.
    const node = await otherNode();
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await node.reserve(b.auth, 'GET /v1/health'));
    expect(decisions.map((d) => d?.allowed)).toEqual([true, true, false]);
    const alerted = async () =>
      (
        await db()
          .selectFrom('budget_alerts')
          .select('threshold')
          .where('budget_id', '=', b.budgetId)
          .execute()
      )
        .map((r) => Number(r.threshold))
        .sort((x, y) => x - y);
    await h.services.budgets.sweepAlerts();
    expect(await alerted()).toEqual([50, 80, 100]);
    await h.services.budgets.sweepAlerts();
    expect(await alerted()).toEqual([50, 80, 100]);
  });
  /** Holds the period's spend row (PostgreSQL: its row lock; SQLite: the one connection). */
  async function lockSpendRow(budgetId: string) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const done = db()
      .transaction()
      .execute(async (trx) => {
        await trx
          .updateTable('budget_spend')
          .set((eb) => ({ spent_micros: eb.ref('spent_micros') }))
          .where('budget_id', '=', budgetId)
          .execute();
        locked();
        await released;
      });
    await isLocked;
    return async () => {
      release();
      await done;
    };
  }

  it('a reservation that waited for the spend row longer than the silence window is not given back as silent', async () => {
    // Three calls fit. Node A's second call starts, then waits for the spend row while its
    // clock passes HOLD_RECLAIM_MS (a loaded machine); node B must not take A's fresh hold
    // for a dead node's: A serves its call, so giving its price back would overshoot.
    const b = await newBudget('SlowHold', 3 * PRICE);
    const clock = createManualClock(new Date());
    const a = await otherNode(clock);
    const first = (await a.reserve(b.auth, 'GET /v1/health')) as {
      allowed: true;
      hold: BudgetHold;
    };
    meter(b, 'req_slow_first', a.settle(first.hold, 200));
    await h.services.usage.flush();
    const unlock = await lockSpendRow(b.budgetId);
    const slow = a.reserve(b.auth, 'GET /v1/health');
    clock.advance(HOLD_RECLAIM_MS + 1_000);
    await unlock();
    const second = (await slow) as { allowed: true; hold: BudgetHold };
    expect(second).toMatchObject({ allowed: true });
    const node = await otherNode(clock);
    expect(await node.reserve(b.auth, 'GET /v1/health')).toMatchObject({ allowed: true });
    // The budget is full with A's second call still in A's hold, which is alive: B's sweep
    // gives nothing back, and B's next call is refused once A's call is metered.
    await node.reclaimSilent();
    expect(await reservedIn(b.budgetId)).toBe(3 * PRICE);
    meter(b, 'req_slow_second', a.settle(second.hold, 200));
    await h.services.usage.flush();
    expect(await node.reserve(b.auth, 'GET /v1/health')).toMatchObject({ allowed: false });
    expect(await reservedIn(b.budgetId)).toBe(3 * PRICE);
  });

  it('a heartbeat that was sent before a newer reservation and arrives after it does not make the hold look older', async () => {
    // Node A's heartbeat stamped T0 waits (for a pool connection, for its hold row's lock)
    // while A reserves again at T0 + 4 s; written last, it must not set the hold back to T0,
    // or node B would take A's live hold for a silent node's and give back a served call.
    const b = await newBudget('LateBeat', 2 * PRICE);
    const clock = createManualClock(new Date());
    const a = await otherNode(clock);
    const t0 = new Date(clock.nowMs()).toISOString();
    clock.advance(4_000);
    const first = await a.reserve(b.auth, 'GET /v1/health');
    expect(first).toMatchObject({ allowed: true });
    const row = () =>
      db()
        .selectFrom('budget_holds')
        .select(['node_id', 'period_start', 'seen_at'])
        .where('budget_id', '=', b.budgetId)
        .executeTakeFirstOrThrow();
    const held = await row();
    const item = { budgetId: b.budgetId, periodStart: held.period_start };
    await createBudgetsStore(db()).heartbeat(b.clientId, item, held.node_id, t0);
    expect((await row()).seen_at).toBe(held.seen_at);
    // 5.5 s after the stale heartbeat's stamp, 1.5 s after the reservation: not silent.
    clock.advance(1_500);
    const node = await otherNode(clock);
    await node.reclaimSilent();
    expect(await reservedIn(b.budgetId)).toBe(PRICE);
  });
});
