import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

const PRICING = { 'GET /v1/health': '0.01', 'GET /v1/me': '0.02', '*': 0 };

async function newClient(h: Harness, name: string) {
  const r = await h.app.inject({
    method: 'POST',
    url: '/admin/v1/clients',
    headers: h.adminHeaders,
    payload: { name, email: `${name.toLowerCase()}@example.com` },
  });
  expect(r.statusCode, r.body).toBe(201);
  const body = r.json<{ client: { id: string }; key: { id: string }; apiKey: string }>();
  return { id: body.client.id, keyId: body.key.id, apiKey: body.apiKey };
}

describe.each(ENGINES)('budgets on %s', (engine) => {
  let h: Harness;
  // Mid-month, mid-week: 2025-10-15 is a Wednesday.
  const clock = createManualClock(new Date('2025-10-15T12:00:00.000Z'));
  beforeAll(async () => {
    h = await createHarness(engine, { file: { pricing: PRICING }, clock });
  });
  afterAll(async () => h?.close());

  const setBudget = (clientId: string, payload: Record<string, unknown>, keyId?: string) =>
    h.app.inject({
      method: 'POST',
      url: keyId
        ? `/admin/v1/clients/${clientId}/keys/${keyId}/budgets`
        : `/admin/v1/clients/${clientId}/budgets`,
      headers: h.adminHeaders,
      payload,
    });
  const health = (apiKey: string) =>
    h.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': apiKey } });

  it('sets, lists, changes and removes budgets on a client and on a key', async () => {
    const c = await newClient(h, 'Crud');
    const r = await setBudget(c.id, { amount: '100.00', period: 'month', mode: 'hard' });
    expect(r.statusCode, r.body).toBe(201);
    const budget = r.json<{ budget: Record<string, unknown> }>().budget;
    expect(budget).toMatchObject({
      clientId: c.id,
      keyId: null,
      amountMicros: 100_000_000,
      amount: '100.00',
      currency: 'EUR',
      period: 'month',
      mode: 'hard',
      thresholds: [50, 80, 100],
      current: {
        periodStart: '2025-10-01T00:00:00.000Z',
        periodEnd: '2025-11-01T00:00:00.000Z',
        spentMicros: 0,
        alerted: [],
      },
    });
    const k = await setBudget(
      c.id,
      { amountMicros: 5_000_000, period: 'week', mode: 'soft', thresholds: [90, 10] },
      c.keyId,
    );
    expect(k.statusCode, k.body).toBe(201);
    expect(k.json().budget).toMatchObject({
      keyId: c.keyId,
      thresholds: [10, 90],
      current: { periodStart: '2025-10-13T00:00:00.000Z', periodEnd: '2025-10-20T00:00:00.000Z' },
    });
    const list = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${c.id}/budgets`,
      headers: h.adminHeaders,
    });
    expect(list.json().data).toHaveLength(2);
    const keyList = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${c.id}/keys/${c.keyId}/budgets`,
      headers: h.adminHeaders,
    });
    expect(keyList.json().data.map((b: { keyId: string }) => b.keyId)).toEqual([c.keyId]);
    const patched = await h.app.inject({
      method: 'PATCH',
      url: `/admin/v1/clients/${c.id}/budgets/${budget.id as string}`,
      headers: h.adminHeaders,
      payload: { amount: 20, mode: 'soft' },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().budget).toMatchObject({ amountMicros: 20_000_000, mode: 'soft' });
    const del = await h.app.inject({
      method: 'DELETE',
      url: `/admin/v1/clients/${c.id}/budgets/${budget.id as string}`,
      headers: h.adminHeaders,
    });
    expect(del.statusCode).toBe(204);
    const after = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${c.id}/budgets`,
      headers: h.adminHeaders,
    });
    expect(after.json().data).toHaveLength(1);
  });

  it('refuses bad input with 400', async () => {
    const c = await newClient(h, 'Bad');
    for (const [payload, field] of [
      [{ amount: 0, period: 'month' }, 'amount'],
      [{ amount: '1.0000001', period: 'month' }, 'amount'],
      [{ amount: 10, period: 'year' }, 'period'],
      [{ amount: 10, period: 'day', mode: 'strict' }, 'mode'],
      [{ amount: 10, period: 'day', thresholds: [0] }, 'thresholds.0'],
      [{ period: 'day' }, 'amount'],
    ] as const) {
      const r = await setBudget(c.id, payload);
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
      // The body's schema (src/budgets/budgets-input.ts) names the field, as the CLI does.
      expect(r.json().error).toMatchObject({ code: 'validation_failed' });
      expect(r.json().error.message).toMatch(new RegExp(`^invalid body: ${field}: `));
    }
    expect(await h.services.budgets.list(c.id)).toEqual([]);
  });

  it("never reads or changes another client's budgets (404 like a missing one)", async () => {
    const a = await newClient(h, 'TenantA');
    const b = await newClient(h, 'TenantB');
    const mine = (await setBudget(b.id, { amount: 1, period: 'day' })).json().budget.id as string;
    for (const [method, url] of [
      ['GET', `/admin/v1/clients/${a.id}/budgets/${mine}`],
      ['PATCH', `/admin/v1/clients/${a.id}/budgets/${mine}`],
      ['DELETE', `/admin/v1/clients/${a.id}/budgets/${mine}`],
    ] as const) {
      const r = await h.app.inject({
        method,
        url,
        headers: h.adminHeaders,
        ...(method === 'PATCH' && { payload: { amount: 5 } }),
      });
      expect(r.statusCode, `${method} ${url}`).toBe(404);
      expect(r.json().error.code).toBe('not_found');
    }
    // A budget on another client's key: not found either.
    expect((await setBudget(a.id, { amount: 1, period: 'day' }, b.keyId)).statusCode).toBe(404);
    // Service and store level: every call takes the client id.
    await expect(h.services.budgets.get(a.id, mine)).rejects.toMatchObject({ code: 'not_found' });
    expect(await h.services.budgets.list(a.id)).toEqual([]);
    const me = await h.app.inject({
      method: 'GET',
      url: '/v1/budgets',
      headers: { 'x-api-key': a.apiKey },
    });
    expect(me.json().data).toEqual([]);
    const still = await h.services.budgets.get(b.id, mine);
    expect(still.amountMicros).toBe(1_000_000);
  });

  it('a hard budget refuses the call that would exceed it: 429 budget_exceeded, Retry-After at the period end', async () => {
    const c = await newClient(h, 'Hard');
    // 0.035 a day: three calls at 0.01 fit, the fourth would make 0.04.
    const r = await setBudget(c.id, { amount: '0.035', period: 'day', mode: 'hard' });
    expect(r.statusCode, r.body).toBe(201);
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await health(c.apiKey)).statusCode);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    const refused = await health(c.apiKey);
    expect(refused.json().error.code).toBe('budget_exceeded');
    // 12:00 UTC → the day ends in 12 h.
    expect(refused.headers['retry-after']).toBe(String(12 * 3600));
    const verify = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/verify',
      headers: h.adminHeaders,
      payload: { key: c.apiKey, endpoint: 'GET /v1/health' },
    });
    expect(verify.json()).toMatchObject({
      valid: false,
      code: 'USAGE_EXCEEDED',
      reason: 'budget',
      budgetId: r.json().budget.id,
    });
    // A free call cannot exceed anything.
    const free = await h.app.inject({
      method: 'GET',
      url: '/v1/keys',
      headers: { 'x-api-key': c.apiKey },
    });
    expect(free.statusCode).toBe(200);
    await h.services.usage.flush();
    const me = await h.services.budgets.list(c.id);
    expect(me[0]!.current.spentMicros).toBe(30_000);
    const usage = await h.services.usage.summary({
      clientIds: [c.id],
      from: '2025-10-15',
      to: '2025-10-16',
      groupBy: 'endpoint',
    });
    expect(usage.totals.costMicros).toBe(30_000);
    // The next day has room again.
    clock.set(new Date('2025-10-16T00:00:01.000Z'));
    try {
      expect((await health(c.apiKey)).statusCode).toBe(200);
    } finally {
      clock.set(new Date('2025-10-15T12:00:00.000Z'));
    }
  });

  it('a key budget limits only that key; a soft budget never refuses; /v1/me shows budgets and spend', async () => {
    const c = await newClient(h, 'KeyScoped');
    const second = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.id}/keys`,
      headers: h.adminHeaders,
      payload: {},
    });
    const other = second.json<{ apiKey: string }>().apiKey;
    expect((await setBudget(c.id, { amount: '0.01', period: 'day' }, c.keyId)).statusCode).toBe(
      201,
    );
    expect(
      (await setBudget(c.id, { amount: '0.02', period: 'billing', mode: 'soft' })).statusCode,
    ).toBe(201);
    expect((await health(c.apiKey)).statusCode).toBe(200);
    expect((await health(c.apiKey)).statusCode).toBe(429);
    for (let i = 0; i < 3; i++) expect((await health(other)).statusCode).toBe(200);
    const me = await h.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { 'x-api-key': other },
    });
    expect(me.statusCode, me.body).toBe(200);
    const budgets = me.json<{
      budgets: Array<{ keyId: string | null; mode: string; current: { spentMicros: number } }>;
    }>().budgets;
    const soft = budgets.find((b) => b.mode === 'soft')!;
    // 1 + 3 health calls and this /v1/me call (0.02) are on the client's soft budget, over it.
    expect(soft.current.spentMicros).toBe(60_000);
    expect(budgets.find((b) => b.keyId === c.keyId)!.current.spentMicros).toBe(10_000);
  });

  it('a client without budgets is not slowed: the gate answers without waiting for storage', async () => {
    const c = await newClient(h, 'NoBudget');
    await h.services.budgets.gate.ready();
    const auth = {
      clientId: c.id,
      clientName: 'x',
      clientTier: 'default',
      keyId: c.keyId,
      environment: 'live' as const,
      scopes: ['*'],
      rateLimit: null,
      meta: {},
    };
    expect(h.services.budgets.gate.reserve(auth, 'GET /v1/health')).toBeNull();
  });

  it('concurrent calls never overshoot: exactly as many as fit', async () => {
    const c = await newClient(h, 'Race');
    expect((await setBudget(c.id, { amount: '0.20', period: 'day' })).statusCode).toBe(201);
    const codes = await Promise.all(Array.from({ length: 40 }, () => health(c.apiKey)));
    expect(codes.filter((r) => r.statusCode === 200)).toHaveLength(20);
    expect(codes.filter((r) => r.statusCode === 429)).toHaveLength(20);
    expect((await h.services.budgets.list(c.id))[0]!.current.spentMicros).toBe(200_000);
  });

  it('keyplane budgets set | list | update | delete, seen by the running server within 1 s', async () => {
    const c = await newClient(h, 'Cli');
    const env = {
      KEYPLANE_DATABASE_URL: h.database.url,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: '',
    };
    const set = await runKeyplaneInProcess(
      ['budgets', 'set', '--client', c.id, '--amount', '0.01', '--period', 'month', '--json'],
      { env },
    );
    expect(set.code, set.stderr).toBe(0);
    const budget = JSON.parse(set.stdout) as { id: string; amountMicros: number; mode: string };
    expect(budget).toMatchObject({ amountMicros: 10_000, mode: 'hard' });
    expect((await health(c.apiKey)).statusCode).toBe(200);
    await waitFor(
      async () => (await health(c.apiKey)).statusCode === 429,
      'the CLI budget to refuse',
    );
    const list = await runKeyplaneInProcess(['budgets', 'list', '--client', c.id], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(budget.id);
    expect(list.stdout).toContain('0.01 EUR');
    const upd = await runKeyplaneInProcess(
      ['budgets', 'update', budget.id, '--client', c.id, '--mode', 'soft', '--json'],
      { env },
    );
    expect(upd.code, upd.stderr).toBe(0);
    expect(JSON.parse(upd.stdout).mode).toBe('soft');
    await waitFor(
      async () => (await health(c.apiKey)).statusCode === 200,
      'the soft budget to let calls through',
    );
    const bad = await runKeyplaneInProcess(
      ['budgets', 'set', '--client', c.id, '--amount', '1', '--period', 'year'],
      { env },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--period must be one of');
    const del = await runKeyplaneInProcess(['budgets', 'delete', budget.id, '--client', c.id], {
      env,
    });
    expect(del.code, del.stderr).toBe(0);
    expect(await h.services.budgets.list(c.id)).toEqual([]);
  });
});
