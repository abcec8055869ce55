import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

const OPERATOR = 'ops@keyplane.example';

/** Two nodes on one database: each threshold alerts once, whichever node crosses it. */
describe.each(ENGINES)('budget alerts on %s', (engine) => {
  let database: TestDatabase;
  let smtp: TestSmtpServer;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    database = await createTestDatabase(engine);
    const options = {
      database,
      env: {
        KEYPLANE_SMTP_URL: smtp.url,
        KEYPLANE_MAIL_FROM: 'Keyplane <noreply@keyplane.example>',
      },
      file: {
        pricing: { 'GET /v1/health': '0.01', '*': 0 },
        billing: { schedule: 'off', operator: { name: 'Ops', email: OPERATOR } },
      },
    };
    a = await createHarness(engine, options);
    // Two SQLite connections in one process block each other (a busy wait holds the only thread
    // while the other connection's transaction waits for it): the second node is another
    // process there. Here, on SQLite, both "nodes" are one.
    b = engine === 'sqlite' ? a : await createHarness(engine, options);
  });
  const bNode = () => b.services.budgets;
  afterAll(async () => {
    if (b !== a) await b?.close();
    await a?.close();
    await database?.drop();
    await smtp?.close();
  });

  it('50/80/100 % fire once each by email (billing address and operator) and as budget.threshold webhooks', async () => {
    const created = await a.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: a.adminHeaders,
      payload: { name: 'Alerted', email: 'owner@alerted.example' },
    });
    const { client, apiKey } = created.json<{ client: { id: string }; apiKey: string }>();
    const pay = await a.app.inject({
      method: 'PUT',
      url: `/admin/v1/clients/${client.id}/payment-details`,
      headers: a.adminHeaders,
      payload: { method: 'bank_transfer', frequency: 'weekly', billingEmail: 'ap@alerted.example' },
    });
    expect(pay.statusCode, pay.body).toBe(200);
    const set = await a.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${client.id}/budgets`,
      headers: a.adminHeaders,
      payload: { amount: '0.10', period: 'month', mode: 'hard' },
    });
    expect(set.statusCode, set.body).toBe(201);
    const budgetId = set.json<{ budget: { id: string } }>().budget.id;
    // A budget set on one node reaches the other within 1 s (the change feed).
    await waitFor(() => b.services.budgets.gate.watches(client.id), 'node b to see the budget');
    // 16 concurrent calls over both nodes against room for 10.
    const calls = Array.from({ length: 16 }, (_, i) =>
      (i % 2 ? a : b).app.inject({
        method: 'GET',
        url: '/v1/health',
        headers: { 'x-api-key': apiKey },
      }),
    );
    const codes = (await Promise.all(calls)).map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(10);
    await a.services.budgets.gate.drain();
    await b.services.budgets.gate.drain();
    const db = a.services.store.db;
    const alerts = await db
      .selectFrom('budget_alerts')
      .selectAll()
      .where('budget_id', '=', budgetId)
      .execute();
    expect(alerts.map((r) => Number(r.threshold)).sort((x, y) => x - y)).toEqual([50, 80, 100]);
    const messages = await db
      .selectFrom('webhook_messages')
      .select(['payload'])
      .where('event_type', '=', 'budget.threshold')
      .where('client_id', '=', client.id)
      .execute();
    expect(messages).toHaveLength(3);
    const payloads = messages.map(
      (m) => JSON.parse(m.payload) as { data: { threshold: number; budget: { id: string } } },
    );
    expect(payloads.map((p) => p.data.threshold).sort((x, y) => x - y)).toEqual([50, 80, 100]);
    expect(payloads.every((p) => p.data.budget.id === budgetId)).toBe(true);
    await waitFor(
      () => smtp.to('ap@alerted.example').length >= 3 && smtp.to(OPERATOR).length >= 3,
      'six alert emails',
    );
    expect(smtp.to('ap@alerted.example')).toHaveLength(3);
    expect(smtp.to(OPERATOR)).toHaveLength(3);
    expect(smtp.to('owner@alerted.example')).toHaveLength(0);
    const subjects = smtp
      .to(OPERATOR)
      .map((m) => /Subject: (.*)/.exec(m.raw)![1])
      .sort();
    expect(subjects).toEqual([
      'Keyplane: budget 100% reached',
      'Keyplane: budget 50% reached',
      'Keyplane: budget 80% reached',
    ]);
    // More traffic above 100 % fires nothing again.
    await a.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': apiKey } });
    await a.services.budgets.gate.drain();
    const me = await a.app.inject({
      method: 'GET',
      url: '/v1/budgets',
      headers: { 'x-api-key': apiKey },
    });
    expect(me.json().data[0].current).toMatchObject({
      spentMicros: 100_000,
      alerted: [50, 80, 100],
    });
    expect(
      await db.selectFrom('budget_alerts').selectAll().where('budget_id', '=', budgetId).execute(),
    ).toHaveLength(3);
  });

  it('a server error is not priced: its reservation is given back, and spend equals metered usage', async () => {
    const created = await a.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: a.adminHeaders,
      payload: { name: 'Refunded', email: 'r@refunded.example' },
    });
    const { client, key } = created.json<{ client: { id: string }; key: { id: string } }>();
    await a.services.budgets.create(
      client.id,
      { amountMicros: 20_000, period: 'day', mode: 'hard', thresholds: [1000] },
      { type: 'system', id: 'test' },
    );
    const auth = {
      clientId: client.id,
      clientName: 'Refunded',
      clientTier: 'default',
      keyId: key.id,
      environment: 'live' as const,
      scopes: ['*'],
      rateLimit: null,
      meta: {},
    };
    const gate = a.services.budgets.gate;
    const first = await gate.reserve(auth, 'GET /v1/health');
    const second = await gate.reserve(auth, 'GET /v1/health');
    expect(first).toMatchObject({ allowed: true });
    expect(second).toMatchObject({ allowed: true });
    expect(await gate.reserve(auth, 'GET /v1/health')).toMatchObject({ allowed: false });
    if (!second?.allowed) throw new Error('unreachable');
    gate.settle(second.hold, 503);
    gate.settle((first as { hold: Parameters<typeof gate.settle>[0] }).hold, 200);
    await gate.drain();
    expect((await a.services.budgets.list(client.id))[0]!.current.spentMicros).toBe(10_000);
    expect(await gate.reserve(auth, 'GET /v1/health')).toMatchObject({ allowed: true });
    // Test keys are never priced: no reservation at all.
    expect(gate.reserve({ ...auth, environment: 'test' }, 'GET /v1/health')).toBeNull();
  });

  /** A client with a hard 0.10 budget, and its current period's start. */
  async function budgeted(name: string) {
    const { client } = await a.services.clients.create(
      { name, email: `owner@${name.toLowerCase()}.example` },
      { type: 'system', id: 'test' },
    );
    const budget = await a.services.budgets.create(
      client.id,
      { amountMicros: 100_000, period: 'month', mode: 'hard' },
      { type: 'system', id: 'test' },
    );
    return { clientId: client.id, budgetId: budget.id, periodStart: budget.current.periodStart };
  }
  /** What a node killed before claiming its alerts leaves: spend in the database, no alert. */
  async function spendLeftBy(bud: Awaited<ReturnType<typeof budgeted>>, micros: number) {
    await a.services.store.db
      .insertInto('budget_spend')
      .values({
        budget_id: bud.budgetId,
        period_start: bud.periodStart,
        client_id: bud.clientId,
        spent_micros: micros,
      })
      .execute();
  }
  const alertedOf = async (budgetId: string) =>
    (
      await a.services.store.db
        .selectFrom('budget_alerts')
        .select('threshold')
        .where('budget_id', '=', budgetId)
        .execute()
    )
      .map((r) => Number(r.threshold))
      .sort((x, y) => x - y);

  it('thresholds reached by a node that died before claiming them are fired by the sweep, once, never early', async () => {
    const bud = await budgeted('Swept');
    await spendLeftBy(bud, 85_000);
    // 30,000 of it is a lease still outstanding: not spent (yet), so 80 % is not reached.
    await a.services.store.db
      .insertInto('budget_leases')
      .values({
        lease_id: `lease-${bud.budgetId}`,
        budget_id: bud.budgetId,
        period_start: bud.periodStart,
        client_id: bud.clientId,
        node_id: 'elsewhere',
        micros: 30_000,
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      })
      .execute();
    await Promise.all([a.services.budgets.sweepAlerts(), bNode().sweepAlerts()]);
    expect(await alertedOf(bud.budgetId)).toEqual([50]);
    await a.services.store.db
      .deleteFrom('budget_leases')
      .where('lease_id', '=', `lease-${bud.budgetId}`)
      .execute();
    await Promise.all([a.services.budgets.sweepAlerts(), bNode().sweepAlerts()]);
    await a.services.budgets.sweepAlerts();
    expect(await alertedOf(bud.budgetId)).toEqual([50, 80]);
    const events = await a.services.store.db
      .selectFrom('webhook_messages')
      .select('payload')
      .where('event_type', '=', 'budget.threshold')
      .where('client_id', '=', bud.clientId)
      .execute();
    expect(events).toHaveLength(2);
    await waitFor(() => smtp.to('owner@swept.example').length >= 2, 'two alert emails');
    expect(smtp.to('owner@swept.example')).toHaveLength(2);
  });

  it('an alert email refused for a while (451) is sent again with backoff until it goes through', async () => {
    const bud = await budgeted('Retried');
    smtp.failNext('owner@retried.example', 2);
    await spendLeftBy(bud, 50_000);
    await a.services.budgets.sweepAlerts();
    expect(await alertedOf(bud.budgetId)).toEqual([50]);
    await waitFor(() => smtp.to('owner@retried.example').length >= 1, 'the alert email', {
      timeoutMs: 20_000,
    });
    expect(smtp.rcptTimes('owner@retried.example')).toHaveLength(3);
    expect(smtp.to('owner@retried.example')).toHaveLength(1);
    const failures = a.logs.lines.filter(
      (l) => l.includes('budget alert email failed') && l.includes(bud.budgetId),
    );
    expect(failures).toHaveLength(2);
  });
});
