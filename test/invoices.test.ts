import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBillingScheduler } from '../src/billing/billing-scheduler.ts';
import { BILLING_LOCK_KEY } from '../src/billing/billing-scheduler.ts';
import type { Invoice } from '../src/billing/billing-types.ts';
import { createLogger } from '../src/infra/logger.ts';
import { loadKeyring } from '../src/infra/master-key.ts';
import { createMetrics } from '../src/infra/metrics.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { createServices, type Services } from '../src/services.ts';
import { createStore } from '../src/store/create-db.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { runKeyplane } from './support/keyplane-process.ts';
import { mimeParts, startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { ENGINES } from './support/stores.ts';

/** Seed 02's price book. */
const PRICING = {
  'POST /api/video/buffer': '0.01',
  'POST /api/video/analyze': '0.05',
  'POST /api/alert': '0.10',
  '*': 0,
};
const BUFFER = 'POST /api/video/buffer';
const ANALYZE = 'POST /api/video/analyze';
const ALERT = 'POST /api/alert';

interface Tenant {
  id: string;
  keyId: string;
  apiKey: string;
  email: string;
}

describe.each(ENGINES)('invoices on %s', (engine) => {
  let h: Harness;
  let smtp: TestSmtpServer;
  let clock: ReturnType<typeof createManualClock>;
  let t: Record<string, Tenant>;
  const admin = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    h.app.inject({ method, url, headers: h.adminHeaders, payload });
  const asClient = (who: Tenant, url: string) =>
    h.app.inject({ method: 'GET', url, headers: { 'x-api-key': who.apiKey } });

  async function tenant(name: string, email: string, environment?: 'test'): Promise<Tenant> {
    clock.advance(1); // ids sort by creation time
    const res = await admin('POST', '/admin/v1/clients', {
      name,
      email,
      ...(environment && { environment }),
    });
    expect(res.statusCode).toBe(201);
    const b = res.json();
    return { id: b.client.id, keyId: b.key.id, apiKey: b.apiKey, email };
  }

  /** `n` metered calls of `endpoint` at `at`, through the usage module's own recording path. */
  function calls(
    who: Tenant,
    endpoint: string,
    n: number,
    at: string,
    environment: 'live' | 'test' = 'live',
  ) {
    const [method] = endpoint.split(' ');
    for (let i = 0; i < n; i++) {
      h.services.usage.record({
        requestId: `req_${randomBytes(12).toString('hex')}`,
        clientId: who.id,
        keyId: who.keyId,
        endpoint,
        method: method!,
        status: 200,
        environment,
        durationMs: 3,
        at: new Date(Date.parse(at) + i * 1000),
      });
    }
  }

  async function run(body: Record<string, unknown>) {
    const res = await admin('POST', '/admin/v1/invoices/run', body);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async function invoicesOf(query: string) {
    const res = await admin('GET', `/admin/v1/invoices?limit=1000&${query}`);
    expect(res.statusCode).toBe(200);
    return res.json().data as Invoice[];
  }

  /** Acme bills weekly to its billing address with a company; Monthly GmbH monthly by SEPA. */
  async function paymentDetails() {
    const acme = await admin('PUT', `/admin/v1/clients/${t.acme!.id}/payment-details`, {
      method: 'bank_transfer',
      frequency: 'weekly',
      billingEmail: 'billing@acme.example',
      currency: 'EUR',
      company: { name: 'Acme Corporation <SA>', address: '1 Rue <Test>\nParis', vatId: 'FR999' },
    });
    expect(acme.statusCode, acme.body).toBe(200);
    const monthly = await admin('PUT', `/admin/v1/clients/${t.monthly!.id}/payment-details`, {
      method: 'sepa_debit',
      frequency: 'monthly',
      currency: 'EUR',
    });
    expect(monthly.statusCode).toBe(200);
    return acme;
  }

  /** Seed 02's week 2025-W40 of calls (and a few that must not be billed), written. */
  async function week40() {
    // Acme: 157 calls, €2.43; TechCo: 89 calls, €1.32 (seed 02's figures).
    calls(t.acme!, BUFFER, 138, '2025-09-29T09:00:00Z');
    calls(t.acme!, ANALYZE, 17, '2025-10-01T12:00:00Z');
    calls(t.acme!, ALERT, 2, '2025-10-05T23:59:00Z');
    calls(t.acme!, ALERT, 5, '2025-10-06T00:00:00Z'); // next week: not on this invoice
    calls(t.acme!, ANALYZE, 9, '2025-10-02T10:00:00Z', 'test'); // test key: never invoiced
    calls(t.tech!, BUFFER, 82, '2025-09-30T10:00:00Z');
    calls(t.tech!, ANALYZE, 4, '2025-10-03T10:00:00Z');
    calls(t.tech!, ALERT, 3, '2025-10-04T10:00:00Z');
    calls(t.tester!, ANALYZE, 50, '2025-10-02T10:00:00Z', 'test');
    calls(t.monthly!, ANALYZE, 10, '2025-10-02T10:00:00Z'); // monthly client: not in a weekly run
    await h.services.usage.flush();
  }

  /** Payment details, week 40's calls, and its two invoices issued (Acme 0001, TechCo 0002). */
  async function issuedWeek40() {
    await paymentDetails();
    await week40();
    clock.set(new Date('2025-10-08T09:00:00.000Z'));
    expect(await run({ period: '2025-W40' })).toMatchObject({ created: 2 });
  }

  /** `n` more clients with calls in 2025-W41 (client i: i + 1 buffer calls), Acme with one. */
  async function bulkWeek41(n: number) {
    const many: Tenant[] = [];
    for (let i = 0; i < n; i++) many.push(await tenant(`Bulk ${i}`, `bulk${i}@bulk.example`));
    many.forEach((who, i) => calls(who, BUFFER, i + 1, '2025-10-07T10:00:00Z'));
    calls(t.acme!, ANALYZE, 1, '2025-10-08T10:00:00Z');
    await h.services.usage.flush();
    clock.set(new Date('2025-10-15T09:00:00.000Z'));
    return many;
  }

  // Every test starts from its own server, database, mailbox and clock (Monday of 2025-W40),
  // with the same five clients; what a test needs beyond that it builds itself.
  beforeEach(async () => {
    clock = createManualClock(new Date('2025-09-29T08:00:00.000Z'));
    t = {};
    smtp = await startSmtpServer();
    h = await createHarness(engine, {
      clock,
      // The tries of one send wait 30 ms, then 60 ms (the server's default: 500 ms, 1 s).
      tunables: { billingRetry: { backoffMs: 30 } },
      env: {
        KEYPLANE_SMTP_URL: smtp.url,
        KEYPLANE_MAIL_FROM: 'Vigint Billing <billing@vigint.example>',
      },
      file: {
        pricing: PRICING,
        billing: {
          operator: {
            name: 'Vigint SAS',
            address: '12 rue de la Paix\n75002 Paris',
            email: 'billing@vigint.example',
            vatId: 'FR00123456789',
          },
        },
      },
    });
    t.acme = await tenant('Acme Corp', 'security@acme.example');
    t.tech = await tenant('TechCo', 'ops@techco.example');
    t.idle = await tenant('Idle Inc', 'idle@idle.example');
    t.monthly = await tenant('Monthly GmbH', 'finance@monthly.example');
    t.tester = await tenant('Only Tests', 'dev@tests.example', 'test');
  });
  afterEach(async () => {
    await h?.close();
    await smtp?.close();
  });

  it('sets and reads payment details over the admin API', async () => {
    const put = await admin('PUT', `/admin/v1/clients/${t.acme!.id}/payment-details`, {
      method: 'bank_transfer',
      frequency: 'weekly',
      billingEmail: 'billing@acme.example',
      currency: 'EUR',
      company: { name: 'Acme Corporation <SA>', address: '1 Rue <Test>\nParis', vatId: 'FR999' },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().paymentDetails).toMatchObject({
      clientId: t.acme!.id,
      method: 'bank_transfer',
      frequency: 'weekly',
      billingEmail: 'billing@acme.example',
      currency: 'EUR',
      company: { name: 'Acme Corporation <SA>', vatId: 'FR999' },
      invoiceWhenEmpty: null,
    });
    const got = await admin('GET', `/admin/v1/clients/${t.acme!.id}/payment-details`);
    expect(got.json().paymentDetails).toEqual(put.json().paymentDetails);

    expect((await admin('GET', `/admin/v1/clients/${t.tech!.id}/payment-details`)).json()).toEqual({
      paymentDetails: null,
    });
    const monthly = await admin('PUT', `/admin/v1/clients/${t.monthly!.id}/payment-details`, {
      method: 'sepa_debit',
      frequency: 'monthly',
      currency: 'EUR',
    });
    expect(monthly.statusCode).toBe(200);

    const missing = await admin(
      'PUT',
      '/admin/v1/clients/client_000000000000000000000000/payment-details',
      {
        method: 'card',
      },
    );
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
    const bad = await admin('PUT', `/admin/v1/clients/${t.acme!.id}/payment-details`, {
      method: 'card',
      billingEmail: 'not an email',
    });
    expect(bad.statusCode).toBe(400);
    const badCurrency = await admin('PUT', `/admin/v1/clients/${t.acme!.id}/payment-details`, {
      method: 'gold',
    });
    expect(badCurrency.statusCode).toBe(400);
  });

  it("bills seed 02's week: one invoice per client with live usage, totals equal to metering", async () => {
    await paymentDetails();
    await week40();

    clock.set(new Date('2025-10-08T09:00:00.000Z'));
    const result = await run({ period: '2025-W40' });
    expect(result).toMatchObject({
      period: '2025-W40',
      kind: 'weekly',
      periodStart: '2025-09-29T00:00:00.000Z',
      periodEnd: '2025-10-06T00:00:00.000Z',
      clients: 2,
      created: 2,
      existing: 0,
      createdTotalMicros: 3_750_000,
    });

    const list = await invoicesOf('period=2025-W40');
    expect(list).toHaveLength(2);
    const acme = list.find((i) => i.clientId === t.acme!.id)!;
    const tech = list.find((i) => i.clientId === t.tech!.id)!;
    expect(acme).toMatchObject({
      number: 'INV-2025-W40-0001',
      period: '2025-W40',
      currency: 'EUR',
      status: 'issued',
      totalMicros: 2_430_000,
      total: '2.43',
      lineItems: [
        { endpoint: ALERT, calls: 2, unitPriceMicros: 100_000, amountMicros: 200_000 },
        { endpoint: ANALYZE, calls: 17, unitPriceMicros: 50_000, amountMicros: 850_000 },
        { endpoint: BUFFER, calls: 138, unitPriceMicros: 10_000, amountMicros: 1_380_000 },
      ],
      billTo: {
        name: 'Acme Corp',
        email: 'billing@acme.example',
        company: { name: 'Acme Corporation <SA>' },
      },
    });
    expect(acme.lineItems.reduce((n: number, l: { calls: number }) => n + l.calls, 0)).toBe(157);
    expect(tech).toMatchObject({
      number: 'INV-2025-W40-0002',
      totalMicros: 1_320_000,
      total: '1.32',
    });
    expect(tech.lineItems.reduce((n: number, l: { calls: number }) => n + l.calls, 0)).toBe(89);

    // The invoice equals what metering says the client spent that week, to the micro-unit.
    for (const [who, inv] of [
      [t.acme!, acme],
      [t.tech!, tech],
    ] as const) {
      const usage = await asClient(who, '/v1/usage?from=2025-09-29&to=2025-10-06&groupBy=endpoint');
      expect(usage.statusCode).toBe(200);
      expect(usage.json().totals.costMicros).toBe(inv.totalMicros);
    }
  });

  it('running the period again changes nothing', async () => {
    await issuedWeek40();
    const before = await invoicesOf('period=2025-W40');
    const again = await run({ period: '2025-W40' });
    expect(again).toMatchObject({ created: 0, existing: 2 });
    expect(await invoicesOf('period=2025-W40')).toEqual(before);
  });

  it('concurrent runs (two services in this process, two CLI processes) issue exactly one invoice per client', async () => {
    const many = await bulkWeek41(25);

    // A second in-process connection only on PostgreSQL: better-sqlite3 waits for a lock
    // synchronously, so two SQLite connections in one process would wait on each other.
    const store2 = createStore(h.config.databaseUrl);
    const other: Services = createServices({
      store: store2,
      config: h.config,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaults: false }),
      keyring: loadKeyring(h.config),
      clock,
    });
    const env = {
      KEYPLANE_DATABASE_URL: h.config.databaseUrl,
      KEYPLANE_DATA_DIR: h.database.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: join(h.database.dir, 'keyplane.config.json'),
    };
    const actor = { type: 'system' as const, id: 'test' };
    try {
      // Real processes: concurrency between processes is the claim (and better-sqlite3 waits for a
      // lock synchronously, which two stores in one process cannot do for each other).
      const cli = () => runKeyplane(['invoices', 'run', '--period', '2025-W41', '--json'], { env });
      const [r1, r2, r3, c1, c2] = await Promise.all([
        h.services.billing.run({ period: '2025-W41', actor }),
        h.services.billing.run({ period: '2025-W41', actor }),
        engine === 'postgres' ? other.billing.run({ period: '2025-W41', actor }) : null,
        cli(),
        cli(),
      ]);
      expect(c1.code, c1.stderr).toBe(0);
      expect(c2.code, c2.stderr).toBe(0);
      const results = [r1, r2, JSON.parse(c1.stdout), JSON.parse(c2.stdout), ...(r3 ? [r3] : [])];
      // 25 bulk clients + Acme; every run saw all of them, together they created each once.
      for (const r of results) expect(r.created + r.existing).toBe(26);
      expect(results.reduce((n, r) => n + r.created, 0)).toBe(26);
    } finally {
      await other.close();
    }
    const list = await invoicesOf('period=2025-W41');
    expect(list).toHaveLength(26);
    expect(new Set(list.map((i) => i.clientId)).size).toBe(26);
    // Gap-free numbering 0001…0026, each number once.
    expect(list.map((i) => i.number).sort()).toEqual(
      Array.from({ length: 26 }, (_, i) => `INV-2025-W41-${String(i + 1).padStart(4, '0')}`),
    );
    for (const [i, who] of many.entries()) {
      expect(list.find((x) => x.clientId === who.id)!.totalMicros).toBe((i + 1) * 10_000);
    }
  });

  it('clients see their own invoices only; another client’s answers like a missing one', async () => {
    await issuedWeek40();
    calls(t.acme!, ANALYZE, 1, '2025-10-08T10:00:00Z');
    await h.services.usage.flush();
    clock.set(new Date('2025-10-15T09:00:00.000Z'));
    expect(await run({ period: '2025-W41' })).toMatchObject({ created: 1 });
    const mine = await asClient(t.acme!, '/v1/invoices');
    expect(mine.statusCode).toBe(200);
    const data = mine.json().data as Array<{ clientId: string; period: string }>;
    expect(data.length).toBe(2);
    expect(data.every((i) => i.clientId === t.acme!.id)).toBe(true);
    expect(data.map((i) => i.period)).toEqual(['2025-W41', '2025-W40']);

    const techInvoice = (await invoicesOf(`clientId=${t.tech!.id}`))[0]!;
    const foreign = await asClient(t.acme!, `/v1/invoices/${techInvoice.id}`);
    const missing = await asClient(t.acme!, '/v1/invoices/inv_000000000000000000000000');
    expect(foreign.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    const strip = (b: string) => ({ ...JSON.parse(b).error, requestId: undefined });
    expect(strip(foreign.body)).toEqual(strip(missing.body));
    expect(foreign.body).not.toContain('TechCo');
    const foreignHtml = await asClient(t.acme!, `/v1/invoices/${techInvoice.id}/html`);
    expect(foreignHtml.statusCode).toBe(404);
    expect(foreignHtml.body).not.toContain('INV-');

    const own = (await invoicesOf(`clientId=${t.acme!.id}&period=2025-W40`))[0]!;
    const one = await asClient(t.acme!, `/v1/invoices/${own.id}`);
    expect(one.json().invoice).toMatchObject({
      id: own.id,
      number: 'INV-2025-W40-0001',
      total: '2.43',
    });
    const html = await asClient(t.acme!, `/v1/invoices/${own.id}/html`);
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('INV-2025-W40-0001');
    expect(html.body).toContain('€2.43');
    expect(html.body).toContain('Acme Corporation &lt;SA&gt;');
    expect(html.body).toContain('1 Rue &lt;Test&gt;<br>Paris');
    expect(html.body).not.toContain('<SA>');
    expect(html.body).not.toMatch(/<script/i);

    const noKey = await h.app.inject({ method: 'GET', url: '/v1/invoices' });
    expect(noKey.statusCode).toBe(401);
  });

  it('sends HTML with a plain-text part to the billing email and records the attempt', async () => {
    await issuedWeek40();
    const result = await run({ period: '2025-W40', send: true });
    expect(result).toMatchObject({ created: 0, existing: 2, sent: 2, sendFailed: 0 });
    const [mail] = smtp.to('billing@acme.example');
    expect(mail).toBeDefined();
    expect(mail!.from).toBe('billing@vigint.example');
    const { headers, parts } = mimeParts(mail!.raw);
    expect(headers).toMatch(/Subject: .*INV-2025-W40-0001/);
    expect(parts['text/plain']).toContain('INV-2025-W40-0001');
    expect(parts['text/plain']).toContain('€2.43');
    expect(parts['text/html']).toContain('<table');
    expect(parts['text/html']).toContain('€2.43');
    // TechCo has no payment details: its invoice goes to the client's own email.
    expect(smtp.to('ops@techco.example')).toHaveLength(1);

    const acme = (await invoicesOf(`clientId=${t.acme!.id}&period=2025-W40`))[0]!;
    const full = (await admin('GET', `/admin/v1/invoices/${acme.id}`)).json().invoice as Invoice;
    expect(full.status).toBe('sent');
    expect(full.sentAt).toBeTruthy();
    expect(full.deliveries).toEqual([
      expect.objectContaining({
        attempt: 1,
        to: 'billing@acme.example',
        status: 'sent',
        error: null,
      }),
    ]);
    // Sending the period again mails nobody twice.
    const again = await run({ period: '2025-W40', send: true });
    expect(again).toMatchObject({ sent: 0, sendFailed: 0 });
    expect(smtp.to('billing@acme.example')).toHaveLength(1);
  });

  it('retries transient failures with backoff; a permanently failing recipient does not stop the run', async () => {
    await bulkWeek41(3);
    expect(await run({ period: '2025-W41' })).toMatchObject({ created: 4 });
    const list = await invoicesOf('period=2025-W41');
    const bulk = list.filter((i) => i.clientId !== t.acme!.id);
    const flaky = bulk[0]!;
    const dead = bulk[1]!;
    smtp.failNext(flaky.billTo.email!, 2);
    smtp.rejectAlways(dead.billTo.email!);
    const result = await run({ period: '2025-W41', send: true });
    expect(result).toMatchObject({ sent: 3, sendFailed: 1 });

    const f = (await admin('GET', `/admin/v1/invoices/${flaky.id}`)).json().invoice as Invoice;
    expect(f.status).toBe('sent');
    expect(f.deliveries!.map((d) => [d.attempt, d.status, d.transient, d.smtpCode])).toEqual([
      [1, 'failed', true, 451],
      [2, 'failed', true, 451],
      [3, 'sent', false, null],
    ]);
    // Backoff (real time, at the SMTP server): at least 30 ms, then at least 60 ms (doubling).
    const [t1, t2, t3] = smtp.rcptTimes(flaky.billTo.email!);
    expect(t2! - t1!).toBeGreaterThanOrEqual(28);
    expect(t3! - t2!).toBeGreaterThanOrEqual(58);

    const d = (await admin('GET', `/admin/v1/invoices/${dead.id}`)).json().invoice as Invoice;
    expect(d.status).toBe('issued');
    expect(d.nextSendAt).toBeNull();
    expect(d.deliveries).toEqual([
      expect.objectContaining({ attempt: 1, status: 'failed', transient: false, smtpCode: 550 }),
    ]);
    expect(smtp.to(dead.billTo.email!)).toHaveLength(0);
  });

  it('a delivery that keeps failing is retried later by the scheduler', async () => {
    calls(t.tech!, BUFFER, 5, '2025-10-14T10:00:00Z');
    await h.services.usage.flush();
    clock.set(new Date('2025-10-22T09:00:00.000Z'));
    await run({ period: '2025-W42' });
    const inv = (await invoicesOf(`clientId=${t.tech!.id}&period=2025-W42`))[0]!;
    smtp.failNext('ops@techco.example', 3);
    const sent = await admin('POST', `/admin/v1/invoices/${inv.id}/send`);
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toMatchObject({
      delivered: false,
      invoice: { status: 'issued', sendAttempts: 3 },
    });
    const retryAt = sent.json().invoice.nextSendAt;
    expect(Date.parse(retryAt)).toBeGreaterThan(clock.now().getTime());

    expect(await h.services.billing.sendDue()).toEqual({ sent: 0, failed: 0 }); // not yet due
    clock.set(new Date(Date.parse(retryAt) + 1000));
    expect(await h.services.billing.sendDue()).toEqual({ sent: 1, failed: 0 });
    const after = (await admin('GET', `/admin/v1/invoices/${inv.id}`)).json().invoice as Invoice;
    expect(after).toMatchObject({ status: 'sent', nextSendAt: null, sendAttempts: 4 });
    expect(after.deliveries!.map((x) => x.status)).toEqual(['failed', 'failed', 'failed', 'sent']);
  });

  it('void keeps the number; paid; the rules between statuses', async () => {
    await issuedWeek40();
    const [acme] = await invoicesOf(`clientId=${t.acme!.id}&period=2025-W40`);
    const voided = await admin('POST', `/admin/v1/invoices/${acme!.id}/void`, {
      reason: 'duplicate',
    });
    expect(voided.statusCode).toBe(200);
    expect(voided.json().invoice).toMatchObject({
      number: 'INV-2025-W40-0001',
      status: 'void',
      voidReason: 'duplicate',
    });
    expect((await admin('POST', `/admin/v1/invoices/${acme!.id}/void`, {})).statusCode).toBe(200);
    expect((await admin('POST', `/admin/v1/invoices/${acme!.id}/send`)).statusCode).toBe(409);
    expect((await admin('POST', `/admin/v1/invoices/${acme!.id}/paid`)).statusCode).toBe(409);
    const seen = await asClient(t.acme!, `/v1/invoices/${acme!.id}`);
    expect(seen.json().invoice.status).toBe('void');
    const html = await asClient(t.acme!, `/v1/invoices/${acme!.id}/html`);
    expect(html.body).toContain('VOID');
    // A re-run never reissues a voided period for that client.
    expect(await run({ period: '2025-W40' })).toMatchObject({ created: 0, existing: 2 });

    const [tech] = await invoicesOf(`clientId=${t.tech!.id}&period=2025-W40`);
    const paid = await admin('POST', `/admin/v1/invoices/${tech!.id}/paid`);
    expect(paid.json().invoice).toMatchObject({ status: 'paid' });
    expect(paid.json().invoice.paidAt).toBeTruthy();
    expect((await admin('POST', `/admin/v1/invoices/${tech!.id}/void`, {})).statusCode).toBe(409);
    expect(
      (await admin('POST', '/admin/v1/invoices/inv_000000000000000000000000/void', {})).statusCode,
    ).toBe(404);

    const audit = await admin('GET', '/admin/v1/audit?action=invoice.voided');
    expect(audit.statusCode).toBe(200);
    expect(JSON.stringify(audit.json())).toContain(acme!.id);
  });

  it('monthly clients get one invoice per month', async () => {
    await paymentDetails();
    await week40();
    clock.set(new Date('2025-11-03T09:00:00.000Z'));
    const r = await run({ period: '2025-10' });
    expect(r).toMatchObject({
      kind: 'monthly',
      created: 1,
      periodStart: '2025-10-01T00:00:00.000Z',
    });
    const [inv] = await invoicesOf('period=2025-10');
    expect(inv).toMatchObject({
      clientId: t.monthly!.id,
      number: 'INV-2025-10-0001',
      totalMicros: 500_000,
      billTo: { paymentMethod: 'sepa_debit' },
    });
    expect(await invoicesOf(`clientId=${t.monthly!.id}&period=2025-W40`)).toEqual([]);
  });

  it('clients without usage get an invoice only when configured', async () => {
    clock.set(new Date('2025-10-29T09:00:00.000Z')); // W43 has ended
    const before = await run({ period: '2025-W43' });
    expect(before.created).toBe(0);
    const put = await admin('PUT', `/admin/v1/clients/${t.idle!.id}/payment-details`, {
      method: 'card',
      invoiceWhenEmpty: true,
    });
    expect(put.statusCode).toBe(200);
    const after = await run({ period: '2025-W43' });
    expect(after.created).toBe(1);
    const [inv] = await invoicesOf('period=2025-W43');
    expect(inv).toMatchObject({
      clientId: t.idle!.id,
      totalMicros: 0,
      total: '0.00',
      lineItems: [],
    });
  });

  it('refuses malformed and unfinished periods', async () => {
    clock.set(new Date('2025-11-03T09:00:00.000Z')); // W45 runs; W46 has not ended
    for (const period of ['2025-W54', '2025-13', 'last week']) {
      const res = await admin('POST', '/admin/v1/invoices/run', { period });
      expect(res.statusCode, period).toBe(400);
    }
    const future = await admin('POST', '/admin/v1/invoices/run', { period: '2025-W46' });
    expect(future.statusCode).toBe(400);
    expect(future.json().error.message).toContain('has not ended');
  });

  it('the scheduler invoices the last completed week once (on PostgreSQL only the advisory-lock holder)', async () => {
    calls(t.tech!, ALERT, 1, '2025-11-04T10:00:00Z'); // 2025-W45
    await h.services.usage.flush();
    clock.set(new Date('2025-11-10T00:30:00.000Z')); // 30 min after W45 ended
    const scheduler = createBillingScheduler({
      billing: h.services.billing,
      store: h.services.store,
      logger: createLogger({ level: 'silent' }),
      clock,
      schedule: 'weekly',
      runAfterMs: 60 * 60_000,
      checkIntervalMs: 60_000,
      send: false,
    });
    // Within the grace hour the week is not due yet: W44 (and October) are.
    const early = await scheduler.tick();
    expect(early.ran).toContain('2025-W44');
    expect(await invoicesOf('period=2025-W45')).toEqual([]);

    clock.set(new Date('2025-11-10T01:30:00.000Z'));
    if (engine === 'postgres') {
      const holder = new pg.Client({ connectionString: h.config.databaseUrl });
      await holder.connect();
      try {
        await holder.query('select pg_advisory_lock($1)', [BILLING_LOCK_KEY]);
        const blocked = await scheduler.tick();
        expect(blocked).toEqual({ ran: [], locked: false });
        expect(await invoicesOf('period=2025-W45')).toEqual([]);
      } finally {
        await holder.end();
      }
    }
    const due = await scheduler.tick();
    expect(due).toEqual({ ran: ['2025-W45'], locked: true });
    expect(await invoicesOf(`period=2025-W45&clientId=${t.tech!.id}`)).toHaveLength(1);
    expect(await scheduler.tick()).toEqual({ ran: [], locked: true });
    await scheduler.stop();
  });

  it('deleting a client scrubs its payment details and keeps its invoices', async () => {
    const gone = await tenant('Leaving Ltd', 'leaving@leaving.example');
    const put = await admin('PUT', `/admin/v1/clients/${gone.id}/payment-details`, {
      method: 'card',
      billingEmail: 'ap@leaving.example',
      company: { name: 'Leaving Ltd', address: '9 Exit Road' },
    });
    expect(put.statusCode).toBe(200);
    calls(gone, ALERT, 3, '2025-11-11T10:00:00Z'); // 2025-W46
    await h.services.usage.flush();
    clock.set(new Date('2025-11-18T09:00:00.000Z'));
    await run({ period: '2025-W46' });
    const [inv] = await invoicesOf(`clientId=${gone.id}`);
    expect(inv!.billTo.email).toBe('ap@leaving.example');

    const del = await h.app.inject({
      method: 'DELETE',
      url: `/admin/v1/clients/${gone.id}`,
      headers: h.adminHeaders,
    });
    expect(del.statusCode, del.body).toBe(200);
    const details = await admin('GET', `/admin/v1/clients/${gone.id}/payment-details`);
    expect(details.json()).toEqual({ paymentDetails: null });
    // The invoice stays for accounting, as issued.
    const kept = await admin('GET', `/admin/v1/invoices/${inv!.id}`);
    expect(kept.json().invoice).toMatchObject({
      totalMicros: 300_000,
      billTo: { email: 'ap@leaving.example' },
    });
  });

  it('CLI: payment details, list, show with --html, plain progress lines off a terminal', async () => {
    await issuedWeek40();
    const idle = await admin('PUT', `/admin/v1/clients/${t.idle!.id}/payment-details`, {
      method: 'card',
      invoiceWhenEmpty: true,
    });
    expect(idle.statusCode).toBe(200);
    clock.set(new Date('2025-10-29T09:00:00.000Z'));
    expect(await run({ period: '2025-W43' })).toMatchObject({ created: 1 });
    const env = {
      KEYPLANE_DATABASE_URL: h.config.databaseUrl,
      KEYPLANE_DATA_DIR: h.database.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: join(h.database.dir, 'keyplane.config.json'),
    };
    const pay = await runKeyplaneInProcess(
      [
        'clients',
        'payment',
        t.tech!.id,
        '--method',
        'card',
        '--frequency',
        'weekly',
        '--email',
        'ap@techco.example',
        '--currency',
        'USD',
        '--company',
        'TechCo Ltd',
        '--json',
      ],
      { env },
    );
    expect(pay.code, pay.stderr).toBe(0);
    expect(JSON.parse(pay.stdout).paymentDetails).toMatchObject({
      method: 'card',
      billingEmail: 'ap@techco.example',
      currency: 'USD',
      company: { name: 'TechCo Ltd' },
    });
    const show = await runKeyplaneInProcess(['clients', 'payment', t.tech!.id], { env });
    expect(show.stdout).toContain('ap@techco.example');

    // W43: only Idle Inc (empty invoices on) is due, and already invoiced.
    const runOut = await runKeyplaneInProcess(['invoices', 'run', '--period', '2025-W43'], { env });
    expect(runOut.code, runOut.stderr).toBe(0);
    expect(runOut.stderr).toContain('issuing invoices: 1/1');
    expect(runOut.stdout).toContain('issued now:      0');
    expect(runOut.stdout).toContain('already issued:  1');

    const list = await runKeyplaneInProcess(
      ['invoices', 'list', '--period', '2025-W40', '--json'],
      { env },
    );
    const data = JSON.parse(list.stdout).data as Array<{ id: string; number: string }>;
    expect(data.map((i) => i.number).sort()).toEqual(['INV-2025-W40-0001', 'INV-2025-W40-0002']);
    const file = join(h.database.dir, 'invoice.html');
    const shown = await runKeyplaneInProcess(['invoices', 'show', data[0]!.id, '--html', file], {
      env,
    });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(data[0]!.number);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain(`<title>Invoice ${data[0]!.number}</title>`);
    const missing = await runKeyplaneInProcess(
      ['invoices', 'show', 'inv_000000000000000000000000'],
      {
        env,
      },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('invoice not found');
  });
});
