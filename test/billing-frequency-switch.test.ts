import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingStore } from '../src/billing/billing-store.ts';
import type { Invoice } from '../src/billing/billing-types.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const BUFFER = 'POST /api/video/buffer';
const ANALYZE = 'POST /api/video/analyze';
const PRICING = { [BUFFER]: '0.01', [ANALYZE]: '0.05', '*': 0 };

interface Tenant {
  id: string;
  keyId: string;
  apiKey: string;
}

/**
 * Switching a client between weekly and monthly invoicing never bills the same usage twice:
 * a run bills a client's period minus what its non-void invoices already cover.
 * September 2025 starts on a Monday: 2025-W36 = Sep 1-7, W37 = Sep 8-14, …, W40 = Sep 29-Oct 5.
 */
describe.each(ENGINES)('billing frequency switches on %s', (engine) => {
  let h: Harness;
  const clock = createManualClock(new Date('2025-08-25T08:00:00.000Z'));
  const admin = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    h.app.inject({ method, url, headers: h.adminHeaders, payload });

  async function tenant(name: string): Promise<Tenant> {
    clock.advance(1);
    const res = await admin('POST', '/admin/v1/clients', {
      name,
      email: `${name.toLowerCase().replace(/\W/g, '')}@example.com`,
    });
    expect(res.statusCode).toBe(201);
    const b = res.json();
    return { id: b.client.id, keyId: b.key.id, apiKey: b.apiKey };
  }

  async function frequency(who: Tenant, f: 'weekly' | 'monthly', invoiceWhenEmpty?: boolean) {
    const res = await admin('PUT', `/admin/v1/clients/${who.id}/payment-details`, {
      method: 'bank_transfer',
      frequency: f,
      currency: 'EUR',
      ...(invoiceWhenEmpty !== undefined && { invoiceWhenEmpty }),
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  /** `n` live calls a day for every day of [from, to). */
  function daily(who: Tenant, endpoint: string, n: number, from: string, to: string) {
    for (let t = Date.parse(from); t < Date.parse(to); t += 86_400_000) {
      for (let i = 0; i < n; i++) {
        h.services.usage.record({
          requestId: `req_${randomBytes(12).toString('hex')}`,
          clientId: who.id,
          keyId: who.keyId,
          endpoint,
          method: 'POST',
          status: 200,
          environment: 'live',
          durationMs: 2,
          at: new Date(t + 12 * 3_600_000 + i * 1000),
        });
      }
    }
  }

  async function run(period: string) {
    const res = await admin('POST', '/admin/v1/invoices/run', { period });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async function invoicesOf(who: Tenant): Promise<Invoice[]> {
    const res = await admin('GET', `/admin/v1/invoices?limit=1000&clientId=${who.id}`);
    expect(res.statusCode).toBe(200);
    return (res.json().data as Invoice[]).sort((a, b) => (a.periodStart < b.periodStart ? -1 : 1));
  }

  /** What metering says the client spent in [from, to) (dates, `to` exclusive). */
  async function metered(who: Tenant, from: string, to: string): Promise<number> {
    const res = await h.app.inject({
      method: 'GET',
      url: `/v1/usage?from=${from}&to=${to}&groupBy=endpoint`,
      headers: { 'x-api-key': who.apiKey },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().totals.costMicros as number;
  }

  const live = (list: Invoice[]) => list.filter((i) => i.status !== 'void');
  const sum = (list: Invoice[]) => list.reduce((n, i) => n + i.totalMicros, 0);

  let switcher: Tenant;
  let covered: Tenant;
  let voided: Tenant;
  let steady: Tenant;

  beforeAll(async () => {
    h = await createHarness(engine, { clock, file: { pricing: PRICING } });
    switcher = await tenant('Switcher');
    covered = await tenant('Covered');
    voided = await tenant('Voided');
    steady = await tenant('Steady');
    for (const who of [switcher, covered, voided]) await frequency(who, 'weekly');
    await frequency(steady, 'monthly');
    // Every day from Sep 1 to Oct 12: 3 buffer calls (€0.03) and 1 analyze call (€0.05).
    for (const who of [switcher, covered, voided, steady]) {
      daily(who, BUFFER, 3, '2025-09-01', '2025-10-13');
      daily(who, ANALYZE, 1, '2025-09-01', '2025-10-13');
    }
    await h.services.usage.flush();
  });
  afterAll(async () => h?.close());

  it('weekly for weeks 1-2, then monthly: the month bills only the remaining days', async () => {
    clock.set(new Date('2025-09-16T09:00:00.000Z'));
    for (const week of ['2025-W36', '2025-W37']) await run(week);
    // Switcher and Voided go monthly after two weeks; Covered stays weekly for the whole month
    // (and the week into October) before it switches too.
    for (const who of [switcher, voided]) await frequency(who, 'monthly', true);
    clock.set(new Date('2025-09-23T09:00:00.000Z'));
    await run('2025-W38');
    clock.set(new Date('2025-09-30T09:00:00.000Z'));
    await run('2025-W39');
    clock.set(new Date('2025-10-07T09:00:00.000Z'));
    await run('2025-W40');
    await frequency(covered, 'monthly', true);
    expect((await invoicesOf(switcher)).map((i) => i.period)).toEqual(['2025-W36', '2025-W37']);
    // A void weekly invoice covers nothing: its usage is billed by the monthly run.
    const w37 = (await invoicesOf(voided)).find((i) => i.period === '2025-W37')!;
    const v = await admin('POST', `/admin/v1/invoices/${w37.id}/void`, { reason: 'wrong rate' });
    expect(v.statusCode, v.body).toBe(200);

    const result = await run('2025-09');
    // Steady (monthly all along), Switcher and Voided; Covered's month is fully invoiced already.
    expect(result).toMatchObject({ kind: 'monthly', created: 3, existing: 0 });

    const month = (await invoicesOf(switcher)).find((i) => i.period === '2025-09')!;
    expect(month).toMatchObject({
      periodStart: '2025-09-15T00:00:00.000Z',
      periodEnd: '2025-10-01T00:00:00.000Z',
    });
    // 16 days left (Sep 15-30): 48 buffer calls and 16 analyze calls.
    expect(month.lineItems).toMatchObject([
      { endpoint: ANALYZE, calls: 16, amountMicros: 800_000 },
      { endpoint: BUFFER, calls: 48, amountMicros: 480_000 },
    ]);
    expect(month.totalMicros).toBe(await metered(switcher, '2025-09-15', '2025-10-01'));
    // Over all its invoices, September is billed exactly once, to the micro-unit.
    const september = live(await invoicesOf(switcher));
    expect(september.map((i) => i.period)).toEqual(['2025-W36', '2025-W37', '2025-09']);
    expect(sum(september)).toBe(await metered(switcher, '2025-09-01', '2025-10-01'));

    // Fully covered by weekly invoices: no monthly invoice at all, even with invoiceWhenEmpty.
    expect((await invoicesOf(covered)).map((i) => i.period)).toEqual([
      '2025-W36',
      '2025-W37',
      '2025-W38',
      '2025-W39',
      '2025-W40',
    ]);

    // The void week is billed again by the month: Sep 8 to the end of the month.
    const vMonth = (await invoicesOf(voided)).find((i) => i.period === '2025-09')!;
    expect(vMonth).toMatchObject({
      periodStart: '2025-09-08T00:00:00.000Z',
      periodEnd: '2025-10-01T00:00:00.000Z',
    });
    expect(sum(live(await invoicesOf(voided)))).toBe(
      await metered(voided, '2025-09-01', '2025-10-01'),
    );

    // Steady is untouched: the whole month.
    const sMonth = (await invoicesOf(steady))[0]!;
    expect(sMonth).toMatchObject({
      periodStart: '2025-09-01T00:00:00.000Z',
      periodEnd: '2025-10-01T00:00:00.000Z',
      totalMicros: await metered(steady, '2025-09-01', '2025-10-01'),
    });

    // Numbering stays gapless: the skipped client took no number.
    const numbers = (await admin('GET', '/admin/v1/invoices?limit=1000&period=2025-09'))
      .json()
      .data.map((i: Invoice) => i.number)
      .sort();
    expect(numbers).toEqual(['INV-2025-09-0001', 'INV-2025-09-0002', 'INV-2025-09-0003']);

    // Running the month again changes nothing.
    expect(await run('2025-09')).toMatchObject({ created: 0, existing: 3 });
  });

  it('the invoice page and email show the period as actually billed', async () => {
    const month = (await invoicesOf(switcher)).find((i) => i.period === '2025-09')!;
    const html = await admin('GET', `/admin/v1/invoices/${month.id}/html`);
    expect(html.statusCode).toBe(200);
    expect(html.body).toContain('September 2025, billed 2025-09-15 to 2025-09-30');
    expect(html.body).not.toContain('2025-09-01 to 2025-09-30');
    const mail = h.services.billing.renderHtml(month);
    expect(mail).toContain('billed 2025-09-15 to 2025-09-30');
    // A full period reads as before.
    const steadyMonth = (await invoicesOf(steady))[0]!;
    expect(h.services.billing.renderHtml(steadyMonth)).toContain(
      'September 2025 (2025-09-01 to 2025-09-30)',
    );
  });

  it('monthly, then weekly: the straddling week bills only its days after the month', async () => {
    await frequency(switcher, 'weekly');
    clock.set(new Date('2025-10-07T09:00:00.000Z'));
    await run('2025-W40'); // Sep 29 - Oct 5; Sep 29-30 are on the September invoice
    const week = (await invoicesOf(switcher)).find((i) => i.period === '2025-W40')!;
    expect(week).toMatchObject({
      periodStart: '2025-10-01T00:00:00.000Z',
      periodEnd: '2025-10-06T00:00:00.000Z',
    });
    expect(week.lineItems).toMatchObject([
      { endpoint: ANALYZE, calls: 5 },
      { endpoint: BUFFER, calls: 15 },
    ]);
    clock.set(new Date('2025-10-14T09:00:00.000Z'));
    await run('2025-W41');
    const all = live(await invoicesOf(switcher));
    expect(all.map((i) => i.period)).toEqual([
      '2025-W36',
      '2025-W37',
      '2025-09',
      '2025-W40',
      '2025-W41',
    ]);
    expect(sum(all)).toBe(await metered(switcher, '2025-09-01', '2025-10-13'));
  });
});

/**
 * A weekly and a monthly run racing on the same client during a switch: whichever issues second
 * must see the other's invoice inside its issuing transaction, or both would bill the same days.
 * The store refuses a draft computed before a covering invoice appeared (the client comes back
 * as stale), and accepts it once drafted against what is there now.
 */
describe.each(ENGINES)('issuing against invoices of the other frequency on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  const draft = (clientId: string, period: string, start: string, end: string) => ({
    id: `inv_${randomBytes(12).toString('hex')}`,
    client_id: clientId,
    period,
    period_start: start,
    period_end: end,
    currency: 'EUR',
    status: 'issued' as const,
    total_micros: 1_000_000,
    line_items: '[]',
    bill_to: '{}',
    issued_at: '2025-10-07T09:00:00.000Z',
    sent_at: null,
    paid_at: null,
    voided_at: null,
    void_reason: null,
    send_attempts: 0,
    next_send_at: null,
    sending_until: null,
    updated_at: '2025-10-07T09:00:00.000Z',
  });

  it('hands back a client whose days another period billed meanwhile, issues the rest', async () => {
    const store = createBillingStore(h.services.store.db);
    const week = { from: '2025-09-29T00:00:00.000Z', to: '2025-10-06T00:00:00.000Z' };
    const guard = (known: Record<string, number>) => ({
      periods: ['2025-09', '2025-10'],
      ...week,
      known: new Map(Object.entries(known)),
    });
    // Both drafts of W40 were computed when no monthly invoice covered any of its days.
    const racing = draft('client_racing', '2025-W40', week.from, week.to);
    const calm = draft('client_calm', '2025-W40', week.from, week.to);
    // Meanwhile the monthly run bills September for the racing client (Sep 29-30 are in W40).
    const month = await store.issue('2025-09', [
      draft('client_racing', '2025-09', '2025-09-01T00:00:00.000Z', '2025-10-01T00:00:00.000Z'),
    ]);
    expect(month.created).toHaveLength(1);

    const first = await store.issue('2025-W40', [racing, calm], guard({}));
    expect(first.stale).toEqual(['client_racing']);
    expect(first.created.map((i) => i.client_id)).toEqual(['client_calm']);
    expect(first.created[0]!.number).toMatch(/-0001$/);

    // Drafted again knowing the September invoice: issued, numbered right after the other.
    const again = draft('client_racing', '2025-W40', '2025-10-01T00:00:00.000Z', week.to);
    const second = await store.issue('2025-W40', [again], guard({ client_racing: 1 }));
    expect(second.stale).toEqual([]);
    expect(second.created.map((i) => [i.client_id, i.period_start])).toEqual([
      ['client_racing', '2025-10-01T00:00:00.000Z'],
    ]);
    expect(second.created[0]!.number).toMatch(/-0002$/);
    // A repeat issues nothing and is not stale: the client has its W40 invoice.
    const repeat = await store.issue('2025-W40', [racing], guard({}));
    expect(repeat).toEqual({ created: [], existing: 1, stale: [] });
  });
});
