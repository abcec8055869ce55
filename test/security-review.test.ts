import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/** Findings of the security review, each pinned by a test that failed before its fix. */
describe.each(ENGINES)('security review on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  async function adminToken(scopes: string[]): Promise<string> {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: `t-${scopes.join('-')}`, scopes },
    });
    expect(res.statusCode).toBe(201);
    return res.json().token as string;
  }

  it('an admin token cannot create a token with scopes it does not hold', async () => {
    const narrow = await adminToken(['tokens:write']);
    const headers = { authorization: `Bearer ${narrow}` };
    for (const payload of [
      { name: 'escalate', scopes: ['admin'] },
      { name: 'escalate', scopes: ['tokens:write', 'credentials:resolve'] },
      { name: 'escalate-by-default' },
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/admin-tokens',
        headers,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(403);
      expect(res.json().error.code).toBe('insufficient_scope');
    }
    const list = await h.app.inject({ method: 'GET', url: '/admin/v1/admin-tokens', headers });
    expect(list.json().data.filter((t: { name: string }) => t.name.startsWith('escalate'))).toEqual(
      [],
    );
    // What it holds it may hand on.
    const ok = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers,
      payload: { name: 'peer', scopes: ['tokens:write'] },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().adminToken.scopes).toEqual(['tokens:write']);
    // A full admin token still grants anything.
    const full = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: 'full' },
    });
    expect(full.json().adminToken.scopes).toEqual(['admin']);
  });
});

describe.each(ENGINES)('self-service key roll on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  async function issue(clientId: string, scopes: string[]) {
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${clientId}/keys`,
      headers: h.adminHeaders,
      payload: { scopes },
    });
    expect(res.statusCode).toBe(201);
    return { id: res.json().key.id as string, apiKey: res.json().apiKey as string };
  }

  it('a key cannot roll a key holding scopes it lacks (that would hand it the new secret)', async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Roller', email: 'roller@example.com' },
    });
    const clientId = created.json().client.id as string;
    const narrow = await issue(clientId, ['keys:write']);
    const broad = await issue(clientId, ['keys:write', 'credentials:read', 'credentials:write']);

    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/keys/${broad.id}/roll`,
      headers: { 'x-api-key': narrow.apiKey },
      payload: { gracePeriodSeconds: 0 },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('insufficient_scope');
    expect(res.body).not.toContain('apiKey');
    // The broad key is untouched and still works.
    const still = await h.app.inject({
      method: 'GET',
      url: '/v1/credentials',
      headers: { 'x-api-key': broad.apiKey },
    });
    expect(still.statusCode).toBe(200);

    // Rolling a key whose scopes it holds (here: itself) still works.
    const own = await h.app.inject({
      method: 'POST',
      url: `/v1/keys/${narrow.id}/roll`,
      headers: { 'x-api-key': narrow.apiKey },
      payload: {},
    });
    expect(own.statusCode).toBe(201);
    expect(own.json().key.scopes).toEqual(['keys:write']);
  });
});

describe.each(ENGINES)('self-service keys never exceed their parent on %s', (engine) => {
  let h: Harness;
  let clientId: string;
  beforeAll(async () => {
    h = await createHarness(engine);
    const c = await h.services.clients.create(
      { name: 'Limited', email: 'limited@example.com' },
      { type: 'system', id: 'test' },
    );
    clientId = c.client.id;
  });
  afterAll(async () => h?.close());

  async function adminKey(body: object): Promise<string> {
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${clientId}/keys`,
      headers: h.adminHeaders,
      payload: body,
    });
    expect(res.statusCode).toBe(201);
    return res.json().apiKey;
  }
  const selfCreate = (key: string, body: object) =>
    h.app.inject({ method: 'POST', url: '/v1/keys', headers: { 'x-api-key': key }, payload: body });

  it('inherits the rate limit, expiry and allowlist it leaves out, and refuses looser ones', async () => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const parent = await adminKey({
      scopes: ['keys:write'],
      rateLimit: { limit: 10, windowSeconds: 60 },
      expiresAt,
      ipAllowlist: ['127.0.0.0/8', '::1/128'],
    });
    const child = await selfCreate(parent, { name: 'child' });
    expect(child.statusCode).toBe(201);
    expect(child.json().key).toMatchObject({
      rateLimit: { limit: 10, windowSeconds: 60 },
      expiresAt,
      ipAllowlist: ['127.0.0.0/8', '::1/128'],
    });
    for (const body of [
      { rateLimit: { limit: 1000, windowSeconds: 60 } },
      { expiresInSeconds: 7 * 86400 },
      { ipAllowlist: ['0.0.0.0/0'] },
    ]) {
      const res = await selfCreate(parent, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(403);
      expect(res.json().error.code).toBe('insufficient_scope');
    }
    const tighter = await selfCreate(parent, {
      rateLimit: { limit: 5, windowSeconds: 60 },
      ipAllowlist: ['127.0.0.1'],
    });
    expect(tighter.statusCode).toBe(201);
  });

  it('a key that spends credits cannot mint or roll keys that would not', async () => {
    const parent = await adminKey({ scopes: ['keys:write'], credits: 100 });
    expect((await selfCreate(parent, {})).statusCode).toBe(403);
    const sibling = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${clientId}/keys`,
      headers: h.adminHeaders,
      payload: { scopes: ['keys:write'] },
    });
    const rolled = await h.app.inject({
      method: 'POST',
      url: `/v1/keys/${sibling.json().key.id}/roll`,
      headers: { 'x-api-key': parent },
      payload: {},
    });
    expect(rolled.statusCode).toBe(403);
  });
});
