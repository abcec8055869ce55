import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { githubRequest, partnerKey } from './support/leaks.ts';
import { ENGINES } from './support/stores.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

/** A leak report raises `key.exposed` once, to the operator's and the client's endpoints. */
describe.each(ENGINES)('key.exposed webhook on %s', (engine) => {
  const github = partnerKey('gh-webhooks');
  let h: Harness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver();
    h = await createHarness(engine, {
      // development: webhook endpoints may point at loopback (the receiver).
      env: { KEYPLANE_MODE: 'development' },
      file: { leaks: { github: { publicKeys: [github.config] } } },
    });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
  });

  it('carries the key start, source and action, never the key, and is sent once', async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Hooked', email: 'hooked@example.com' },
    });
    const c = created.json() as { client: { id: string }; key: { id: string }; apiKey: string };
    const endpoint = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/webhooks/endpoints',
      headers: h.adminHeaders,
      payload: { url: rx.url, eventTypes: ['key.exposed'] },
    });
    expect(endpoint.statusCode, endpoint.body).toBe(201);
    const secret = endpoint.json().secret as string;
    const drain = async () => {
      while ((await h.services.webhookDispatcher.runOnce()) > 0);
    };

    const url = 'https://github.com/acme/app/blob/main/.env';
    expect((await h.app.inject(githubRequest([{ token: c.apiKey, url }], github))).statusCode).toBe(
      200,
    );
    await drain();
    const got = rx.received.filter((r) => r.body.includes(c.key.id));
    expect(got).toHaveLength(1);
    expect(
      standardWebhooksVerify(secret, got[0]!.headers, got[0]!.body, Math.floor(Date.now() / 1000)),
    ).toBe(true);
    expect(JSON.parse(got[0]!.body)).toMatchObject({
      type: 'key.exposed',
      data: {
        key: { id: c.key.id, environment: 'live' },
        source: 'github',
        url,
        action: 'revoked',
      },
    });
    expect(got[0]!.body).not.toContain(c.apiKey);

    // Reported again: acts once, so no second event.
    await h.app.inject(githubRequest([{ token: c.apiKey, url: 'again' }], github));
    await drain();
    expect(
      rx.received.filter((r) => r.body.includes(c.key.id) && r.body.includes('key.exposed')),
    ).toHaveLength(1);
  });
});
