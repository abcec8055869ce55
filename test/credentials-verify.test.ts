import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../src/audit/audit-types.ts';
import type { CreateCredentialInput } from '../src/credentials/credentials-types.ts';
import { startFakeProviders, type FakeProviders } from './support/fake-providers.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const ACTOR: Actor = { type: 'client', id: 'key_test', ip: '198.51.100.7' };
const rand = (label: string) => `${label}-${randomBytes(16).toString('hex')}`;

function serviceAccount(email: string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'cost-collector',
    private_key_id: 'k1',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: email,
    token_uri: 'https://attacker.invalid/token',
  });
  return { json, publicKey };
}

describe.each(ENGINES)('provider verification against fake providers on %s', (engine) => {
  let fake: FakeProviders;
  let h: Harness;
  let client: string;
  const secrets: string[] = [];

  beforeAll(async () => {
    fake = await startFakeProviders();
    h = await createHarness(engine, {
      file: {
        providers: fake.providersConfig({
          vultr: { circuitBreakerThreshold: 100 },
          exa: { circuitBreakerThreshold: 3, circuitBreakerCooldownMs: 60_000 },
        }),
      },
    });
    client = (await h.services.clients.create({ name: 'Collector', email: 'c@example.com' }, ACTOR))
      .client.id;
  });
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  async function verifyNew(input: Omit<CreateCredentialInput, 'credentialName'>) {
    for (const v of Object.values(input.credentials)) if (typeof v === 'string') secrets.push(v);
    const c = await h.services.credentials.create(
      client,
      { ...input, credentialName: rand('cred') },
      ACTOR,
    );
    return h.services.credentials.verify(client, c.id, ACTOR);
  }

  it('vultr: bearer on /v2/account', async () => {
    const good = rand('vultr');
    fake.acceptApiKey('vultr', good);
    const ok = await verifyNew({ provider: 'vultr', credentials: { apiKey: good } });
    expect(ok.verification).toMatchObject({ status: 'verified', attempts: 1 });
    expect(ok.credential).toMatchObject({ isVerified: true, lastVerifiedAt: expect.any(String) });
    const bad = await verifyNew({ provider: 'vultr', credentials: { apiKey: rand('wrong') } });
    expect(bad.verification).toMatchObject({ status: 'rejected', attempts: 1 });
    expect(bad.verification.message).toMatch(/HTTP 401/);
    expect(bad.credential).toMatchObject({ isVerified: false, lastVerifiedAt: expect.any(String) });
  });

  it('aws: STS GetCallerIdentity with a SigV4 signature the fake recomputes', async () => {
    const id = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secret = randomBytes(30).toString('base64');
    fake.acceptAws(id, secret);
    const ok = await verifyNew({
      provider: 'aws',
      credentials: { accessKeyId: id, secretAccessKey: secret, region: 'eu-west-1' },
    });
    expect(ok.verification.status, fake.lastRefusal('aws') ?? '').toBe('verified');
    const wrongSecret = await verifyNew({
      provider: 'aws',
      credentials: { accessKeyId: id, secretAccessKey: randomBytes(30).toString('base64') },
    });
    expect(wrongSecret.verification.status).toBe('rejected');
    expect(fake.lastRefusal('aws')).toBe('SignatureDoesNotMatch');
    const unknownId = await verifyNew({
      provider: 'aws',
      credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: secret },
    });
    expect(unknownId.verification.status).toBe('rejected');
    expect(fake.lastRefusal('aws')).toBe('InvalidClientTokenId');
  });

  it("gcp: an RS256 service-account JWT exchanged at the token endpoint (not the file's token_uri)", async () => {
    const sa = serviceAccount('collector@cost-collector.iam.gserviceaccount.com');
    fake.acceptGcp('collector@cost-collector.iam.gserviceaccount.com', sa.publicKey);
    const ok = await verifyNew({ provider: 'gcp', credentials: { serviceAccountJson: sa.json } });
    expect(ok.verification.status, fake.lastRefusal('gcp') ?? '').toBe('verified');
    // Same account name, another key pair: the signature does not check out.
    const forged = serviceAccount('collector@cost-collector.iam.gserviceaccount.com');
    const bad = await verifyNew({
      provider: 'gcp',
      credentials: { serviceAccountJson: forged.json },
    });
    expect(bad.verification.status).toBe('rejected');
    expect(fake.lastRefusal('gcp')).toBe('invalid JWT signature');
  });

  it('azure: client-credentials token at /{tenant}/oauth2/v2.0/token', async () => {
    const tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const app = '0b1e7b0a-5c3a-4d2e-9f61-1d3c4b5a6f70';
    const secret = rand('azsecret');
    fake.acceptAzure(tenant, app, secret);
    const ok = await verifyNew({
      provider: 'azure',
      credentials: { tenantId: tenant, clientId: app, clientSecret: secret },
    });
    expect(ok.verification.status, fake.lastRefusal('azure') ?? '').toBe('verified');
    const bad = await verifyNew({
      provider: 'azure',
      credentials: { tenantId: tenant, clientId: app, clientSecret: rand('nope') },
    });
    expect(bad.verification).toMatchObject({ status: 'rejected' });
    expect(fake.lastRefusal('azure')).toBe('client');
  });

  it.each(['gemini', 'openai', 'anthropic', 'exa'] as const)(
    '%s: the model list (or equivalent) with the key',
    async (provider) => {
      const good = rand(provider);
      fake.acceptApiKey(provider, good);
      const ok = await verifyNew({ provider, credentials: { apiKey: good } });
      expect(ok.verification.status, fake.lastRefusal(provider) ?? '').toBe('verified');
      const bad = await verifyNew({ provider, credentials: { apiKey: rand('bad') } });
      expect(bad.verification.status).toBe('rejected');
      expect(bad.credential.isVerified).toBe(false);
    },
  );

  it('copilotkit: no verification endpoint, answered as unsupported', async () => {
    const r = await verifyNew({ provider: 'copilotkit', credentials: { apiKey: rand('ck') } });
    expect(r.verification).toMatchObject({ status: 'unsupported', attempts: 0 });
    expect(r.credential).toMatchObject({ isVerified: false, lastVerifiedAt: null });
  });

  it('retries transient 5xx with backoff and then succeeds', async () => {
    const good = rand('vultr');
    fake.acceptApiKey('vultr', good);
    fake.setMode('vultr', { kind: 'failFirst', count: 2, status: 503 });
    const before = fake.hits('vultr');
    const r = await verifyNew({ provider: 'vultr', credentials: { apiKey: good } });
    expect(r.verification).toMatchObject({ status: 'verified', attempts: 3 });
    expect(fake.hits('vultr') - before).toBe(3);
    fake.setMode('vultr', { kind: 'ok' });
  });

  it('keeps the last verdict when the provider stays down (5xx), after every retry', async () => {
    const good = rand('vultr');
    fake.acceptApiKey('vultr', good);
    const c = await h.services.credentials.create(
      client,
      { provider: 'vultr', credentialName: 'down', credentials: { apiKey: good } },
      ACTOR,
    );
    const first = await h.services.credentials.verify(client, c.id, ACTOR);
    expect(first.credential.isVerified).toBe(true);
    fake.setMode('vultr', { kind: 'status', status: 500 });
    const before = fake.hits('vultr');
    const down = await h.services.credentials.verify(client, c.id, ACTOR);
    expect(down.verification).toMatchObject({ status: 'unreachable', attempts: 3 });
    expect(down.verification.message).toBe('vultr answered 500');
    expect(fake.hits('vultr') - before).toBe(3);
    expect(down.credential).toMatchObject({
      isVerified: true,
      lastVerifiedAt: first.credential.lastVerifiedAt,
    });
    fake.setMode('vultr', { kind: 'ok' });
    const trail = await h.services.credentials.auditTrail(client, c.id);
    expect(trail.data[0]).toMatchObject({
      action: 'credential.failed',
      ip: '198.51.100.7',
      data: { operation: 'verify', outcome: 'unreachable', attempts: 3 },
    });
    expect(trail.data[1]).toMatchObject({ action: 'credential.verified' });
  });

  it('never retries a refusal (4xx)', async () => {
    const before = fake.hits('openai');
    const r = await verifyNew({ provider: 'openai', credentials: { apiKey: rand('refused') } });
    expect(r.verification.attempts).toBe(1);
    expect(fake.hits('openai') - before).toBe(1);
  });

  it('gives up on a provider that does not answer within its timeout', async () => {
    // Its own store and fake: the short timeout applies to this test alone, and the provider
    // never answers, so the timeout is the only way the call can end, however loaded the machine.
    const silent = await startFakeProviders();
    const own = await createHarness(engine, {
      file: {
        providers: silent.providersConfig({ anthropic: { timeoutMs: 150, maxRetries: 1 } }),
      },
    });
    try {
      const good = rand('anthropic');
      silent.acceptApiKey('anthropic', good);
      silent.setMode('anthropic', { kind: 'slow', delayMs: 3_600_000 });
      const owner = (
        await own.services.clients.create({ name: 'Timeout', email: 't@example.com' }, ACTOR)
      ).client.id;
      const c = await own.services.credentials.create(
        owner,
        { provider: 'anthropic', credentialName: rand('cred'), credentials: { apiKey: good } },
        ACTOR,
      );
      const r = await own.services.credentials.verify(owner, c.id, ACTOR);
      expect(r.verification).toMatchObject({
        status: 'unreachable',
        attempts: 2,
        message: 'anthropic did not answer within 150 ms',
      });
      expect(r.credential.isVerified).toBe(false);
      expect(silent.hits('anthropic')).toBe(2);
    } finally {
      await own.close();
      await silent.close();
    }
  });

  it('opens the circuit after repeated failures and stops calling the provider', async () => {
    const good = rand('exa');
    fake.acceptApiKey('exa', good);
    fake.setMode('exa', { kind: 'status', status: 502 });
    const first = await verifyNew({ provider: 'exa', credentials: { apiKey: good } });
    expect(first.verification).toMatchObject({ status: 'unreachable', attempts: 3 });
    expect(h.services.credentials.circuitState('exa')).toBe('open');
    const before = fake.hits('exa');
    const second = await h.services.credentials.verify(client, first.credential.id, ACTOR);
    expect(second.verification).toMatchObject({ status: 'unreachable', attempts: 0 });
    expect(second.verification.message).toMatch(/circuit is open, next try in \d+ s/);
    expect(fake.hits('exa')).toBe(before);
    // Other providers are not affected.
    expect(h.services.credentials.circuitState('vultr')).toBe('closed');
    fake.setMode('exa', { kind: 'ok' });
  });

  it('never passes a provider-echoed key into logs, audit or answers', async () => {
    // The fake OpenAI echoes the refused key in its error body, as the real one does.
    const refused = rand('sk-echoed');
    const r = await verifyNew({ provider: 'openai', credentials: { apiKey: refused } });
    expect(JSON.stringify(r)).not.toContain(refused);
    const audit = JSON.stringify(await h.services.audit.list({ clientId: client, limit: 1000 }));
    const logs = h.logs.text();
    for (const s of [...secrets, refused]) {
      expect(audit).not.toContain(s);
      expect(logs).not.toContain(s);
    }
  });
});
