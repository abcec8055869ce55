import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createManualClock } from '../src/lib/clock.ts';
import { createWebhookDispatcher } from '../src/webhooks/webhooks-dispatcher.ts';
import { sendWebhook } from '../src/webhooks/webhooks-sender.ts';
import { createWebhooksStore } from '../src/webhooks/webhooks-store.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { ENGINES } from './support/stores.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

describe.each(ENGINES)('webhooks on %s', (engine) => {
  let h: Harness;
  let smtp: TestSmtpServer;
  const clock = createManualClock(new Date('2026-03-02T10:00:00.000Z'));
  const nowS = () => Math.floor(clock.nowMs() / 1000);
  beforeAll(async () => {
    smtp = await startSmtpServer();
    h = await createHarness(engine, {
      clock,
      env: {
        KEYPLANE_MODE: 'development',
        KEYPLANE_SMTP_URL: smtp.url,
        KEYPLANE_MAIL_FROM: 'keyplane@example.com',
      },
      file: { billing: { invoiceEmptyClients: true } },
    });
  });
  afterAll(async () => {
    await h?.close();
    await smtp?.close();
  });

  async function createClient(name: string) {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name, email: `${name.toLowerCase()}@example.com` },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { client: { id: string }; apiKey: string };
  }
  async function addEndpoint(
    url: string,
    opts: { key?: string; eventTypes?: string[] } = {},
  ): Promise<{ endpoint: { id: string }; secret: string }> {
    const res = await h.app.inject({
      method: 'POST',
      url: opts.key ? '/v1/webhooks/endpoints' : '/admin/v1/webhooks/endpoints',
      headers: opts.key ? { 'x-api-key': opts.key } : h.adminHeaders,
      payload: { url, description: 'test', eventTypes: opts.eventTypes },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }
  const suspend = (clientId: string) =>
    h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${clientId}/suspend`,
      headers: h.adminHeaders,
      payload: { reason: 'unpaid' },
    });
  const drain = async () => {
    while ((await h.services.webhookDispatcher.runOnce()) > 0);
  };
  const message = async (id: string) =>
    (
      await h.app.inject({
        method: 'GET',
        url: `/admin/v1/webhooks/messages/${id}`,
        headers: h.adminHeaders,
      })
    ).json().message;

  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver();
  });
  afterAll(async () => rx?.close());

  it('shows the secret once, stores it sealed, and lists endpoints without it', async () => {
    const { endpoint, secret } = await addEndpoint('http://127.0.0.1:9/none', {
      eventTypes: ['invoice.paid'],
    });
    expect(secret).toMatch(/^whsec_/);
    const list = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/webhooks/endpoints',
      headers: h.adminHeaders,
    });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain(secret.slice(6, 20));
    const row = await h.services.store.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', endpoint.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret.slice(6));
    const bad = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/webhooks/endpoints',
      headers: h.adminHeaders,
      payload: { url: 'http://127.0.0.1:9/', eventTypes: ['no.such'] },
    });
    expect(bad.statusCode).toBe(400);
    const del = await h.app.inject({
      method: 'DELETE',
      url: `/admin/v1/webhooks/endpoints/${endpoint.id}`,
      headers: h.adminHeaders,
    });
    expect(del.statusCode).toBe(204);
  });

  it('delivers client.suspended, signed (independent verifier), to the operator and the client only', async () => {
    const a = await createClient('Alpha');
    const b = await createClient('Beta');
    const op = await addEndpoint(rx.url, { eventTypes: ['client.suspended'] });
    const mine = await addEndpoint(rx.url, { key: a.apiKey });
    const theirs = await addEndpoint(rx.url, { key: b.apiKey });
    // Another client's endpoint answers 404, like a missing one.
    const peek = await h.app.inject({
      method: 'GET',
      url: `/v1/webhooks/endpoints/${theirs.endpoint.id}`,
      headers: { 'x-api-key': a.apiKey },
    });
    expect(peek.statusCode).toBe(404);
    const before = rx.received.length;
    expect((await suspend(a.client.id)).statusCode).toBe(200);
    await drain();
    const got = rx.received.slice(before);
    expect(got).toHaveLength(2);
    const bySecret = (s: string) =>
      got.filter((r) => standardWebhooksVerify(s, r.headers, r.body, nowS()));
    expect(bySecret(op.secret)).toHaveLength(1);
    expect(bySecret(mine.secret)).toHaveLength(1);
    expect(bySecret(theirs.secret)).toHaveLength(0);
    const body = JSON.parse(got[0]!.body);
    expect(body).toMatchObject({
      type: 'client.suspended',
      version: 1,
      data: { client: { id: a.client.id, status: 'suspended' }, reason: 'unpaid' },
    });
    expect(got[0]!.body).not.toContain(a.apiKey);
    expect(got[0]!.headers['webhook-id']).toBe(got[1]!.headers['webhook-id']);
    // The client (reactivated: a suspended client's key is refused) sees its own message and
    // only its own endpoint's delivery.
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.client.id}/reactivate`,
      headers: h.adminHeaders,
    });
    const own = await h.app.inject({
      method: 'GET',
      url: '/v1/webhooks/messages?eventType=client.suspended',
      headers: { 'x-api-key': a.apiKey },
    });
    const data = own.json().data as Array<{ deliveries: Array<{ endpointId: string }> }>;
    expect(data).toHaveLength(1);
    expect(data[0]!.deliveries.map((d) => d.endpointId)).toEqual([mine.endpoint.id]);
    const other = await h.app.inject({
      method: 'GET',
      url: `/v1/webhooks/messages/${got[0]!.headers['webhook-id']}`,
      headers: { 'x-api-key': b.apiKey },
    });
    expect(other.statusCode).toBe(404);
    for (const e of [op, mine, theirs])
      await h.services.webhooks.deleteEndpoint(
        e === op ? null : e === mine ? a.client.id : b.client.id,
        e.endpoint.id,
        { type: 'system', id: 'test' },
      );
  });

  it('needs webhooks:write on a client key', async () => {
    const c = await createClient('Gamma');
    const k = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { name: 'narrow', scopes: ['usage:read'] },
    });
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/webhooks/endpoints',
      headers: { 'x-api-key': k.json().apiKey },
    });
    expect(res.statusCode).toBe(403);
  });

  it('retries 5xx, resets, timeouts and redirects on the schedule, in order, recording every attempt', async () => {
    const c = await createClient('Delta');
    const ep = await addEndpoint(rx.url, { key: c.apiKey });
    // A short timeout so that a hanging receiver costs the test 300 ms, not 15 s.
    const dispatcher = createWebhookDispatcher({
      webhooksStore: createWebhooksStore(h.services.store.db, engine),
      keyring: h.services.keyring,
      clock,
      logger: h.services.logger,
      registry: new Registry(),
      allowPrivate: true,
      timeoutMs: 300,
      random: () => 0,
    });
    rx.faults.push(500, 'reset', 'hang', 302);
    const before = rx.received.length;
    await suspend(c.client.id);
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/reactivate`,
      headers: h.adminHeaders,
    });
    expect(await dispatcher.runOnce()).toBe(1); // only the head of the endpoint's queue
    expect(await dispatcher.runOnce()).toBe(0); // the retry is not due yet
    for (const wait of [5_000, 5 * 60_000, 30 * 60_000, 2 * 3600_000]) {
      clock.advance(wait - 1);
      expect(await dispatcher.runOnce()).toBe(0);
      clock.advance(1);
      expect(await dispatcher.runOnce()).toBe(1);
    }
    // Delivered at the fifth try; then the reactivation, which waited behind it.
    expect(await dispatcher.runOnce()).toBe(1);
    const got = rx.received.slice(before);
    expect(got.map((r) => r.answered)).toEqual([500, 'reset', 'hang', 302, 200, 200]);
    expect(got.map((r) => JSON.parse(r.body).type)).toEqual([
      ...Array(5).fill('client.suspended'),
      'client.reactivated',
    ]);
    expect(new Set(got.slice(0, 5).map((r) => r.headers['webhook-id'])).size).toBe(1);
    const m = await message(String(got[0]!.headers['webhook-id']));
    const attempts = m.attempts as Array<Record<string, unknown>>;
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'failed'],
      [2, null, 'failed'],
      [3, null, 'failed'],
      [4, 302, 'failed'],
      [5, 200, 'delivered'],
    ]);
    expect(attempts[0]!.responseExcerpt).toBe('answer 500');
    expect(attempts[1]!.error).toBe('ECONNRESET');
    expect(attempts[2]!.error).toMatch(/timeout/);
    expect(m.deliveries[0]).toMatchObject({
      endpointId: ep.endpoint.id,
      status: 'delivered',
      attempts: 5,
    });
    await dispatcher.stop();
  });

  it('signs with both secrets during a roll’s grace period, then with the new one only', async () => {
    const c = await createClient('Epsilon');
    const ep = await addEndpoint(rx.url, { key: c.apiKey });
    const rolled = await h.app.inject({
      method: 'POST',
      url: `/v1/webhooks/endpoints/${ep.endpoint.id}/roll-secret`,
      headers: { 'x-api-key': c.apiKey },
      payload: { graceSeconds: 3600 },
    });
    expect(rolled.statusCode).toBe(200);
    const fresh = rolled.json().secret as string;
    expect(fresh).not.toBe(ep.secret);
    const before = rx.received.length;
    await suspend(c.client.id);
    await drain();
    const first = rx.received[before]!;
    expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(standardWebhooksVerify(ep.secret, first.headers, first.body, nowS())).toBe(true);
    expect(standardWebhooksVerify(fresh, first.headers, first.body, nowS())).toBe(true);
    clock.advance(3601_000);
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/reactivate`,
      headers: h.adminHeaders,
    });
    await drain();
    const second = rx.received[before + 1]!;
    expect(standardWebhooksVerify(ep.secret, second.headers, second.body, nowS())).toBe(false);
    expect(standardWebhooksVerify(fresh, second.headers, second.body, nowS())).toBe(true);
    // A replay goes out again with the same webhook-id.
    const replay = await h.app.inject({
      method: 'POST',
      url: `/v1/webhooks/messages/${String(second.headers['webhook-id'])}/replay`,
      headers: { 'x-api-key': c.apiKey },
    });
    expect(replay.statusCode).toBe(202);
    await drain();
    expect(rx.received[before + 2]!.headers['webhook-id']).toBe(second.headers['webhook-id']);
    expect(rx.received[before + 2]!.body).toBe(second.body);
  });

  it('emits invoice.issued, invoice.sent and invoice.paid with the invoice, never its bill-to', async () => {
    const ep = await addEndpoint(rx.url, {
      eventTypes: ['invoice.issued', 'invoice.sent', 'invoice.paid'],
    });
    const before = rx.received.length;
    await h.services.billing.run({
      period: '2026-W09',
      send: true,
      actor: { type: 'system', id: 'test' },
    });
    await drain();
    const events = rx.received.slice(before).map((r) => JSON.parse(r.body));
    const issued = events.filter((e) => e.type === 'invoice.issued');
    expect(issued.length).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'invoice.sent')).toHaveLength(issued.length);
    const invoice = issued[0].data.invoice;
    expect(invoice).toMatchObject({ period: '2026-W09', totalMicros: 0 });
    expect(JSON.stringify(issued[0])).not.toContain('bill_to');
    const paid = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/invoices/${invoice.id}/paid`,
      headers: h.adminHeaders,
    });
    expect(paid.statusCode).toBe(200);
    await drain();
    const last = JSON.parse(rx.received[rx.received.length - 1]!.body);
    expect(last).toMatchObject({ type: 'invoice.paid', data: { invoice: { id: invoice.id } } });
    await h.services.webhooks.deleteEndpoint(null, ep.endpoint.id, { type: 'system', id: 'test' });
  });

  it('writes nothing when the state change rolls back', async () => {
    const count = async () =>
      (await h.services.store.db.selectFrom('webhook_messages').select('id').execute()).length;
    const n = await count();
    await expect(
      h.services.store.db.transaction().execute(async (trx) => {
        await h.services.webhooks.emit(trx, {
          type: 'client.reactivated',
          clientId: null,
          data: { client: { id: 'client_x', name: 'X', status: 'active' } },
        });
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('failed');
    expect(await count()).toBe(n);
  });

  it('disables an endpoint failing for 5 days and emails its owner', async () => {
    const c = await createClient('Zeta');
    const dead = await startReceiver();
    const ep = await addEndpoint(dead.url, { key: c.apiKey });
    await dead.close(); // connection refused from now on
    await suspend(c.client.id);
    for (
      let i = 0;
      i < 8 && (await h.services.webhooks.getEndpoint(c.client.id, ep.endpoint.id)).enabled;
      i++
    ) {
      await drain();
      clock.advance(24 * 3600_000);
      await h.app.inject({
        method: 'POST',
        url: `/admin/v1/clients/${c.client.id}/${i % 2 ? 'suspend' : 'reactivate'}`,
        headers: h.adminHeaders,
      });
    }
    const after = await h.services.webhooks.getEndpoint(c.client.id, ep.endpoint.id);
    expect(after.enabled).toBe(false);
    expect(after.disabledReason).toMatch(/failing since/);
    expect(smtp.to('zeta@example.com').some((m) => m.raw.includes(ep.endpoint.id))).toBe(true);
  });

  it('refuses private addresses at send time outside development mode', async () => {
    const res = await sendWebhook({
      url: rx.url,
      headers: {},
      body: '{}',
      timeoutMs: 2000,
      allowPrivate: false,
    });
    expect(res.statusCode).toBeNull();
    expect(res.error).toBe('EPRIVATE');
  });

  it('refuses http and loopback endpoints in production mode', async () => {
    const prod = await createHarness(engine);
    try {
      for (const url of [
        'http://hooks.example.com/x',
        'https://127.0.0.1/x',
        'https://10.0.0.8/x',
      ]) {
        const res = await prod.app.inject({
          method: 'POST',
          url: '/admin/v1/webhooks/endpoints',
          headers: prod.adminHeaders,
          payload: { url },
        });
        expect(res.statusCode, url).toBe(400);
      }
    } finally {
      await prod.close();
    }
  });
});
