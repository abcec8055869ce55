import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Invoice } from '../src/billing/billing-types.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { generateKey } from '../src/lib/key-format.ts';
import { createHarness, type Harness, type HarnessOptions } from './support/harness.ts';
import { mimeParts, startSmtpServer } from './support/smtp.ts';
import { ENGINES } from './support/stores.ts';

const actor = { type: 'system' as const, id: 'test' };

/** A harness for one test, closed whatever happens. */
async function withHarness(
  engine: (typeof ENGINES)[number],
  options: HarnessOptions,
  fn: (h: Harness) => Promise<void>,
) {
  const h = await createHarness(engine, options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** A client with one priced call in 2025-W40, its invoice issued. */
async function invoicedClient(h: Harness, name: string, currency?: string) {
  const { client, key } = await h.services.clients.create(
    { name, email: `${name.toLowerCase()}@example.com` },
    actor,
  );
  if (currency) {
    await h.services.billing.setPaymentDetails(
      client.id,
      { method: 'card', frequency: 'weekly', currency },
      actor,
    );
  }
  h.services.usage.record({
    requestId: `req_${randomBytes(12).toString('hex')}`,
    clientId: client.id,
    keyId: key.id,
    endpoint: 'POST /api/alert',
    method: 'POST',
    status: 200,
    environment: 'live',
    durationMs: 1,
    at: new Date('2025-09-30T10:00:00Z'),
  });
  await h.services.usage.flush();
  await h.services.billing.run({ period: '2025-W40', actor });
  const [invoice] = (await h.services.billing.list({ clientId: client.id })).data;
  return { client, invoice: invoice! };
}

const PRICING = { pricing: { 'POST /api/alert': '0.002', '*': 0 } };

describe.each(ENGINES)('README promises over HTTP on %s', (engine) => {
  const health = (h: Harness, apiKey: string, remoteAddress: string, xff?: string) =>
    h.app.inject({
      method: 'GET',
      url: '/v1/health',
      remoteAddress,
      headers: { 'x-api-key': apiKey, ...(xff && { 'x-forwarded-for': xff }) },
    });

  async function allowlistedKey(h: Harness) {
    const { client } = await h.services.clients.create(
      { name: 'IP', email: 'ip@example.com' },
      actor,
    );
    return (await h.services.keys.create(client.id, { ipAllowlist: ['203.0.113.0/24'] }, actor))
      .apiKey;
  }

  it('IP allowlists use X-Forwarded-For only behind KEYPLANE_TRUST_PROXY=true', async () => {
    await withHarness(engine, { env: { KEYPLANE_TRUST_PROXY: 'true' } }, async (h) => {
      const key = await allowlistedKey(h);
      // The load balancer (10.0.0.1) connects; the client's address is the forwarded one.
      expect((await health(h, key, '10.0.0.1', '203.0.113.7')).statusCode).toBe(200);
      const outside = await health(h, key, '10.0.0.1', '198.51.100.1');
      expect(outside.statusCode).toBe(403);
      expect(outside.json().error.code).toBe('ip_not_allowed');
    });
    await withHarness(engine, {}, async (h) => {
      const key = await allowlistedKey(h);
      // Off (the default): a spoofed header from an outside address is ignored.
      const spoofed = await health(h, key, '198.51.100.1', '203.0.113.7');
      expect(spoofed.statusCode).toBe(403);
      expect(spoofed.json().error.code).toBe('ip_not_allowed');
      expect((await health(h, key, '203.0.113.7', '198.51.100.1')).statusCode).toBe(200);
    });
  });

  it('remembers an unknown key for 2 s without asking storage again (injected clock)', async () => {
    const clock = createManualClock(new Date('2025-10-02T10:00:00.000Z'));
    await withHarness(engine, { clock }, async (h) => {
      const unknown = generateKey(h.config.keyPrefix, 'live'); // well formed, checksum right
      expect((await h.services.keys.verify(unknown)).code).toBe('NOT_FOUND');
      // Storage away: inside the 2 s the answer comes from memory, after them storage is asked.
      await sql`alter table api_keys rename to api_keys_away`.execute(h.services.store.db);
      try {
        clock.advance(1_999);
        expect((await h.services.keys.verify(unknown)).code).toBe('NOT_FOUND');
        clock.advance(2);
        await expect(Promise.resolve().then(() => h.services.keys.verify(unknown))).rejects.toThrow(
          /api_keys/,
        );
      } finally {
        await sql`alter table api_keys_away rename to api_keys`.execute(h.services.store.db);
      }
      expect((await h.services.keys.verify(unknown)).code).toBe('NOT_FOUND');
    });
  });

  it('invoice send without SMTP answers 503 not_configured naming the settings', async () => {
    await withHarness(engine, { file: PRICING }, async (h) => {
      const { invoice } = await invoicedClient(h, 'NoMail');
      const res = await h.app.inject({
        method: 'POST',
        url: `/admin/v1/invoices/${invoice.id}/send`,
        headers: h.adminHeaders,
      });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('not_configured');
      expect(res.json().error.message).toContain('KEYPLANE_SMTP_URL');
      expect((await h.services.billing.get(invoice.id)).status).toBe('issued');
    });
  });

  it("bills in the client's currency (USD here, EUR by default), amounts exact, never converted", async () => {
    const smtp = await startSmtpServer();
    const env = { KEYPLANE_SMTP_URL: smtp.url, KEYPLANE_MAIL_FROM: 'billing@op.example' };
    try {
      await withHarness(engine, { env, file: PRICING }, async (h) => {
        const usd = (await invoicedClient(h, 'Yankee', 'USD')).invoice;
        const eur = (await invoicedClient(h, 'Euro')).invoice;
        expect(usd).toMatchObject({ currency: 'USD', totalMicros: 2_000, total: '0.002' });
        expect(eur).toMatchObject({ currency: 'EUR', totalMicros: 2_000, total: '0.002' });
        const html = await h.app.inject({
          method: 'GET',
          url: `/admin/v1/invoices/${usd.id}/html`,
          headers: h.adminHeaders,
        });
        expect(html.body).toContain('$0.002');
        expect(html.body).not.toContain('€');
        expect((await h.services.billing.send(usd.id, actor)).delivered).toBe(true);
        const { headers, parts } = mimeParts(smtp.to('yankee@example.com')[0]!.raw);
        expect(headers).toMatch(/Subject: .*\$0\.002/);
        expect(parts['text/plain']).toContain('(USD)');
      });
    } finally {
      await smtp.close();
    }
  });

  it('stops retrying an e-mail after 12 attempts in all', async () => {
    const smtp = await startSmtpServer();
    const clock = createManualClock(new Date('2025-10-08T09:00:00.000Z'));
    const env = { KEYPLANE_SMTP_URL: smtp.url, KEYPLANE_MAIL_FROM: 'billing@op.example' };
    try {
      // The attempt cap is the claim, not the real waits between a send's tries (500 ms, 1 s).
      const tunables = { billingRetry: { backoffMs: 5 } };
      await withHarness(engine, { env, file: PRICING, clock, tunables }, async (h) => {
        const { invoice } = await invoicedClient(h, 'Flaky');
        smtp.failNext('flaky@example.com', 1000); // 451 to every delivery
        let current: Invoice = (await h.services.billing.send(invoice.id, actor)).invoice;
        let rounds = 0;
        while (current.nextSendAt && rounds++ < 20) {
          clock.set(new Date(Date.parse(current.nextSendAt) + 1_000));
          await h.services.billing.sendDue();
          current = await h.services.billing.get(invoice.id);
        }
        expect(current).toMatchObject({ status: 'issued', sendAttempts: 12, nextSendAt: null });
        expect(current.deliveries).toHaveLength(12);
        expect(current.deliveries!.every((d) => d.status === 'failed' && d.transient)).toBe(true);
        expect(smtp.rcptTimes('flaky@example.com')).toHaveLength(12);
        expect(await h.services.billing.sendDue()).toEqual({ sent: 0, failed: 0 });
      });
    } finally {
      await smtp.close();
    }
  });
});
