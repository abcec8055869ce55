import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../src/audit/audit-types.ts';
import { startFakeProviders, type FakeProviders } from './support/fake-providers.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

const ACTOR: Actor = { type: 'system', id: 'test' };
const rand = (label: string) => `${label}-${randomBytes(16).toString('hex')}`;

describe.each(ENGINES)('credential.verification_failed on %s', (engine) => {
  let fake: FakeProviders;
  let h: Harness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    fake = await startFakeProviders();
    rx = await startReceiver();
    h = await createHarness(engine, {
      env: { KEYPLANE_MODE: 'development' },
      file: { providers: fake.providersConfig({ vultr: { circuitBreakerThreshold: 100 } }) },
    });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
    await fake?.close();
  });

  it('is sent to the owner and the operator when a provider rejects a credential, never the secret', async () => {
    const { client, apiKey } = await h.services.clients.create(
      { name: 'Vaulted', email: 'v@example.com' },
      ACTOR,
    );
    const mine = await h.services.webhooks.createEndpoint(
      client.id,
      { url: rx.url, eventTypes: ['credential.verification_failed'] },
      ACTOR,
    );
    const op = await h.services.webhooks.createEndpoint(
      null,
      { url: rx.url, eventTypes: ['credential.verification_failed'] },
      ACTOR,
    );
    const good = rand('vultr');
    const bad = rand('wrong');
    fake.acceptApiKey('vultr', good);
    const from = rx.received.length;
    for (const secret of [good, bad]) {
      const c = await h.services.credentials.create(
        client.id,
        { provider: 'vultr', credentialName: rand('cred'), credentials: { apiKey: secret } },
        ACTOR,
      );
      await h.services.credentials.verify(client.id, c.id, ACTOR);
    }
    while ((await h.services.webhookDispatcher.runOnce()) > 0);
    const got = rx.received.slice(from);
    const nowS = Math.floor(Date.now() / 1000);
    // One event (the rejected credential), to both endpoints.
    expect(got).toHaveLength(2);
    for (const secret of [mine.secret, op.secret])
      expect(
        got.filter((r) => standardWebhooksVerify(secret, r.headers, r.body, nowS)),
      ).toHaveLength(1);
    const body = JSON.parse(got[0]!.body);
    expect(body).toMatchObject({
      type: 'credential.verification_failed',
      version: 1,
      data: {
        credential: { clientId: client.id, provider: 'vultr' },
        status: 'rejected',
        attempts: 1,
      },
    });
    expect(body.data.message).toMatch(/HTTP 401/);
    for (const r of got) {
      expect(r.body).not.toContain(bad);
      expect(r.body).not.toContain(good);
      expect(r.body).not.toContain(apiKey);
    }
  });
});
