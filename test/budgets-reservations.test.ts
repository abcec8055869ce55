import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOLD_RECLAIM_MS } from '../src/budgets/budgets-leases.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { newId } from '../src/lib/ids.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const CHEAP = 'POST /api/cheap';
const DEAR = 'POST /api/dear';
const PRICING = {
  [CHEAP]: '0.01',
  [DEAR]: '0.05',
  'POST /api/free': 0,
  // An operator pricing everything: signing in to the dashboard is still not a metered call.
  'POST /dashboard/api/session': '0.01',
  '*': 0,
};
const TIMEOUT_S = 60;

/**
 * Reservations made through POST /admin/v1/verify (a service that checks keys itself) and
 * settled by the usage report of the call (POST /admin/v1/usage/events with reservationId).
 */
describe.each(ENGINES)('budget reservations settled by usage reports on %s', (engine) => {
  let h: Harness;
  const clock = createManualClock(new Date('2025-10-15T12:00:00.000Z'));
  beforeAll(async () => {
    h = await createHarness(engine, {
      file: { pricing: PRICING, budgets: { reservationTimeoutSeconds: TIMEOUT_S } },
      clock,
    });
  });
  afterAll(async () => h?.close());

  async function newClient(harness: Harness, name: string, amount = '0.10') {
    const r = await harness.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: harness.adminHeaders,
      payload: { name, email: `${name.toLowerCase()}@example.com` },
    });
    expect(r.statusCode, r.body).toBe(201);
    const body = r.json<{ client: { id: string }; key: { id: string }; apiKey: string }>();
    const b = await harness.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${body.client.id}/budgets`,
      headers: harness.adminHeaders,
      payload: { amount, period: 'day', mode: 'hard' },
    });
    expect(b.statusCode, b.body).toBe(201);
    return {
      id: body.client.id,
      keyId: body.key.id,
      apiKey: body.apiKey,
      budgetId: b.json<{ budget: { id: string } }>().budget.id,
    };
  }
  type Client = Awaited<ReturnType<typeof newClient>>;

  async function verify(apiKey: string, endpoint = CHEAP, harness = h) {
    const r = await harness.app.inject({
      method: 'POST',
      url: '/admin/v1/verify',
      headers: harness.adminHeaders,
      payload: { key: apiKey, endpoint },
    });
    expect(r.statusCode, r.body).toBe(200);
    return r.json<{ valid: boolean; code: string; reservationId?: string }>();
  }

  type EventInput = {
    reservationId?: string;
    status?: number;
    endpoint?: string;
    requestId?: string;
  };

  /** One usage event of client c's key, as a service reports it. */
  function usageEvent(c: { id: string; keyId: string }, e: EventInput) {
    return {
      requestId: e.requestId ?? randomUUID(),
      clientId: c.id,
      keyId: c.keyId,
      endpoint: e.endpoint ?? CHEAP,
      method: 'POST',
      status: e.status ?? 200,
      ...(e.reservationId ? { reservationId: e.reservationId } : {}),
    };
  }

  /** Reports events in one request and waits until they are metered. */
  async function send(events: Array<ReturnType<typeof usageEvent>>, harness = h) {
    const r = await harness.app.inject({
      method: 'POST',
      url: '/admin/v1/usage/events',
      headers: harness.adminHeaders,
      payload: { events },
    });
    expect(r.statusCode, r.body).toBe(202);
    await harness.services.usage.flush();
    return r.json<{ recorded: number; rejected: unknown[] }>();
  }

  const report = (c: { id: string; keyId: string }, e: EventInput, harness = h) =>
    send([usageEvent(c, e)], harness);

  const spent = async (c: Client) =>
    (await h.services.budgets.get(c.id, c.budgetId)).current.spentMicros;
  const metered = async (c: Client) =>
    (
      await h.services.usage.summary({
        clientIds: [c.id],
        from: '2025-10-15',
        to: '2025-10-16',
        groupBy: 'endpoint',
      })
    ).totals.costMicros;
  const held = async (c: Client) => {
    const rows = await h.services.store.db
      .selectFrom('budget_holds')
      .select('held_micros')
      .where('budget_id', '=', c.budgetId)
      .execute();
    return rows.reduce((n, r) => n + Number(r.held_micros), 0);
  };
  const reservation = (id: string) =>
    h.services.store.db
      .selectFrom('budget_reservations')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
  /** Spend = metered usage, nothing held: what every test ends with. */
  async function exact(c: Client, micros: number) {
    expect(await spent(c)).toBe(micros);
    expect(await metered(c)).toBe(micros);
    expect(await held(c)).toBe(0);
  }

  it('verify answers a reservationId; the 200 report settles it at the real price', async () => {
    const c = await newClient(h, 'Settled');
    const v = await verify(c.apiKey);
    expect(v).toMatchObject({ valid: true, code: 'VALID' });
    expect(v.reservationId).toMatch(/^bres_[0-9a-f]{24}$/);
    // Reserved: in the spend and in this node's hold until the report.
    expect(await spent(c)).toBe(10_000);
    expect(await held(c)).toBe(10_000);
    expect(await reservation(v.reservationId!)).toMatchObject({
      client_id: c.id,
      key_id: c.keyId,
      budget_id: c.budgetId,
      endpoint: CHEAP,
      settled_at: null,
      released_at: null,
    });
    await report(c, { reservationId: v.reservationId });
    await exact(c, 10_000);
    expect((await reservation(v.reservationId!))?.settled_at).not.toBeNull();
    // Reported at a dearer endpoint than reserved: the spend is what it costs.
    const dear = await verify(c.apiKey);
    await report(c, { reservationId: dear.reservationId, endpoint: DEAR });
    await exact(c, 60_000);
  });

  it('a 5xx report refunds the reservation; so does a free endpoint', async () => {
    const c = await newClient(h, 'Refunded');
    const v = await verify(c.apiKey);
    expect(await spent(c)).toBe(10_000);
    await report(c, { reservationId: v.reservationId, status: 503 });
    await exact(c, 0);
    const free = await verify(c.apiKey);
    await report(c, { reservationId: free.reservationId, endpoint: 'POST /api/free' });
    await exact(c, 0);
  });

  it('a report sent twice is counted once; a second event naming a settled reservation settles nothing', async () => {
    const c = await newClient(h, 'Twice');
    const v = await verify(c.apiKey);
    const requestId = randomUUID();
    await report(c, { reservationId: v.reservationId, requestId });
    // The reporter's retry (its 202 got lost): metered once, spent once.
    await report(c, { reservationId: v.reservationId, requestId });
    // A later report of it, at a refund or at a dearer price, changes nothing either.
    await report(c, { reservationId: v.reservationId, requestId, status: 500 });
    await exact(c, 10_000);
    // Another event (its own request id) naming it is metered like an event without one: the
    // budget does not count it (nothing was reserved for it).
    await report(c, { reservationId: v.reservationId, endpoint: DEAR });
    expect(await spent(c)).toBe(10_000);
    expect(await metered(c)).toBe(60_000);
    expect(await held(c)).toBe(0);
  });

  it('two reports of one reservation in one batch settle it once', async () => {
    const c = await newClient(h, 'OneBatch');
    const v = await verify(c.apiKey);
    const { reservationId } = v;
    await send([usageEvent(c, { reservationId }), usageEvent(c, { reservationId, status: 503 })]);
    // Exactly one of them settled it: at 0.01 (200) or refunded (503), never both or neither.
    expect([0, 10_000]).toContain(await spent(c));
    expect(await held(c)).toBe(0);
    expect(await metered(c)).toBe(10_000);
  });

  it("another client's or another key's reservationId is ignored exactly like an unknown one", async () => {
    const a = await newClient(h, 'Owner');
    const b = await newClient(h, 'Intruder');
    const v = await verify(a.apiKey);
    const unknown = newId('budgetReservation');
    const foreign = await report(b, { reservationId: v.reservationId, status: 503 });
    const missing = await report(b, { reservationId: unknown, status: 503 });
    const garbage = await report(b, { reservationId: 'not-an-id', status: 503 });
    expect(foreign).toEqual(missing);
    expect(garbage).toEqual(missing);
    expect(foreign).toEqual({ recorded: 1, rejected: [] });
    // A's reservation is untouched: still held, still open.
    expect(await spent(a)).toBe(10_000);
    expect(await held(a)).toBe(10_000);
    expect((await reservation(v.reservationId!))?.settled_at).toBeNull();
    expect(await spent(b)).toBe(0);
    // A second key of A naming it: ignored as well.
    const second = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.id}/keys`,
      headers: h.adminHeaders,
      payload: {},
    });
    const otherKey = second.json<{ key: { id: string } }>().key.id;
    await report({ id: a.id, keyId: otherKey }, { reservationId: v.reservationId, status: 503 });
    expect(await spent(a)).toBe(10_000);
    expect((await reservation(v.reservationId!))?.settled_at).toBeNull();
    // Its own key's report settles it.
    await report(a, { reservationId: v.reservationId });
    await exact(a, 10_000);
  });

  it('signing in to the dashboard with a key keeps no reservation, even at a priced endpoint', async () => {
    const c = await newClient(h, 'Dashboard');
    const r = await h.app.inject({
      method: 'POST',
      url: '/dashboard/api/session',
      payload: { apiKey: c.apiKey },
    });
    expect(r.statusCode, r.body).toBe(200);
    await h.services.budgets.gate.drain();
    await exact(c, 0);
  });

  it("one request of several clients' events settles each event's own reservation only", async () => {
    const a = await newClient(h, 'BatchA');
    const b = await newClient(h, 'BatchB');
    const ra = (await verify(a.apiKey)).reservationId;
    const rb = (await verify(b.apiKey)).reservationId;
    // B names A's reservation with a 503 first: it must not refund A's.
    const recorded = await send([
      usageEvent(b, { reservationId: ra, status: 503 }),
      usageEvent(a, { reservationId: ra }),
      usageEvent(b, { reservationId: rb, status: 503 }),
    ]);
    expect(recorded).toEqual({ recorded: 3, rejected: [] });
    await exact(a, 10_000);
    await exact(b, 0);
  });

  it('test keys reserve nothing: no reservationId', async () => {
    const c = await newClient(h, 'TestKey');
    const r = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.id}/keys`,
      headers: h.adminHeaders,
      payload: { environment: 'test' },
    });
    expect(r.statusCode, r.body).toBe(201);
    const v = await verify(r.json<{ apiKey: string }>().apiKey);
    expect(v.valid).toBe(true);
    expect(v.reservationId).toBeUndefined();
    expect(await spent(c)).toBe(0);
  });

  it('a reservation not reported in time is released; a report after that is metered and spent once', async () => {
    const c = await newClient(h, 'Late');
    const v = await verify(c.apiKey);
    const kept = await verify(c.apiKey);
    expect(await spent(c)).toBe(20_000);
    // Not due yet: nothing released.
    clock.advance((TIMEOUT_S - 1) * 1000);
    await report(c, { reservationId: kept.reservationId });
    expect(await h.services.budgets.releaseExpiredReservations()).toBe(0);
    clock.advance(2000);
    try {
      // (The 30 s sweep may have got there first: the row says it was released.)
      await h.services.budgets.releaseExpiredReservations();
      expect((await reservation(v.reservationId!))?.released_at).not.toBeNull();
      expect((await reservation(kept.reservationId!))?.released_at).toBeNull();
      // The released price went back: spend = metered usage (the settled call).
      await exact(c, 10_000);
      expect(await h.services.budgets.releaseExpiredReservations()).toBe(0);
      // Reported after all: metered, and added to the spend, once.
      await report(c, { reservationId: v.reservationId });
      await report(c, { reservationId: v.reservationId, status: 503 });
      await exact(c, 20_000);
    } finally {
      clock.set(new Date('2025-10-15T12:00:00.000Z'));
    }
  });

  it('a report costing more than reserved can take the spend past the amount by the difference, no more', async () => {
    // Room for three cheap calls.
    const c = await newClient(h, 'Dearer', '0.03');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await verify(c.apiKey)).reservationId!);
    expect(await verify(c.apiKey)).toMatchObject({ valid: false, code: 'USAGE_EXCEEDED' });
    for (const reservationId of ids) await report(c, { reservationId, endpoint: DEAR });
    // 3 × 0.05 spent on an amount of 0.03: past it by 3 × (0.05 − 0.01), exactly.
    await exact(c, 150_000);
    expect(await verify(c.apiKey)).toMatchObject({ valid: false, code: 'USAGE_EXCEEDED' });
  });

  it('a reservation made on a lease settles the same way', async () => {
    // Room for a lease: the reservation comes out of it, without a query.
    const c = await newClient(h, 'Leased', '100.00');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await verify(c.apiKey)).reservationId!);
    const leases = await h.services.store.db
      .selectFrom('budget_leases')
      .select('micros')
      .where('budget_id', '=', c.budgetId)
      .execute();
    expect(leases.length).toBe(1);
    await report(c, { reservationId: ids[0] });
    await report(c, { reservationId: ids[1], status: 502 });
    await report(c, { reservationId: ids[2], endpoint: DEAR });
    await report(c, { reservationId: ids[3], endpoint: 'POST /api/free' });
    await h.services.budgets.gate.releaseLeases();
    await exact(c, 60_000);
  });

  it('verified on a node that stopped, reported to another: counted once, before or after its hold is given back', async () => {
    // Its budget exists before node A starts (A loads the clients with budgets at start).
    const c = await newClient(h, 'Nodes');
    const a = await createHarness(engine, {
      file: { pricing: PRICING, budgets: { reservationTimeoutSeconds: TIMEOUT_S } },
      clock,
      database: h.database,
    });
    let stopped = false;
    try {
      const early = await verify(c.apiKey, CHEAP, a);
      const late = await verify(c.apiKey, CHEAP, a);
      expect(await spent(c)).toBe(20_000);
      // Node A stops: it never reports, and its hold is no longer kept alive.
      await a.close();
      stopped = true;
      // Reported to this node while A's hold is still there: it leaves A's hold.
      await report(c, { reservationId: early.reservationId });
      expect(await spent(c)).toBe(20_000);
      expect(await held(c)).toBe(10_000);
      // A silent: its hold (the other reservation) goes back to the budget.
      clock.advance(HOLD_RECLAIM_MS + 1000);
      await h.services.budgets.gate.reclaimSilent();
      expect(await spent(c)).toBe(10_000);
      expect(await held(c)).toBe(0);
      // Reported after that: added to the spend, once.
      const requestId = randomUUID();
      await report(c, { reservationId: late.reservationId, requestId });
      await report(c, { reservationId: late.reservationId, requestId });
      await exact(c, 20_000);
    } finally {
      clock.set(new Date('2025-10-15T12:00:00.000Z'));
      if (!stopped) await a.close();
    }
  });
});
