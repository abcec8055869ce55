import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/**
 * The adversarial tenant suite. Client A holds a key with every scope and tries every client
 * route (enumerated from the OpenAPI document, so routes added later are covered too) with the
 * ids of client B's resources. Every attempt must answer exactly like a missing resource (404),
 * no answer may carry anything of B's, and B's data must be unchanged afterwards.
 */
/** Fields that move with the clock, not with anything a tenant did. */
// (requestId: a route that answers B with an error, like an unconfigured partner endpoint;
// lastUsedAt goes from null to a time when the keys service flushes its touches, every 5 s.)
const VOLATILE = /"(timestamp|lastUsedAt|from|to|generatedAt|requestId)":("[^"]*"|null)/g;
const ID = /\b(?:key|cred|inv|client|use|aud)_[0-9a-f]{24}\b/g;

/** Bodies for routes whose schema needs more than `{}` to reach the tenant check. */
const SAMPLE_BODIES: Record<string, unknown> = {
  'PATCH /v1/credentials/{id}': { credentialName: 'renamed' },
};

interface Tenant {
  clientId: string;
  apiKey: string;
  name: string;
  email: string;
}

describe.each(ENGINES)('tenant isolation on %s', (engine) => {
  let h: Harness;
  let a: Tenant;
  let b: Tenant;
  let bIds: string[] = [];
  let clientRoutes: Array<{ method: string; path: string }> = [];

  async function tenant(name: string, email: string): Promise<Tenant> {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name, email },
    });
    expect(res.statusCode).toBe(201);
    return { clientId: res.json().client.id, apiKey: res.json().apiKey, name, email };
  }

  /** Everything B can see of its own, via every list route of the client API. */
  async function snapshotOf(t: Tenant): Promise<string> {
    const parts: string[] = [];
    // Usage moves with B's own snapshot calls (they are metered), so it is left out here;
    // metering attribution has its own suite.
    const lists = clientRoutes.filter(
      (r) => r.method === 'GET' && !r.path.includes('{') && !r.path.startsWith('/v1/usage'),
    );
    for (const r of lists) {
      const res = await h.app.inject({
        method: 'GET',
        url: r.path,
        headers: { 'x-api-key': t.apiKey },
      });
      parts.push(`${r.path} ${res.statusCode} ${res.body.replace(VOLATILE, '')}`);
    }
    const admin = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${t.clientId}`,
      headers: h.adminHeaders,
    });
    parts.push(admin.body.replace(VOLATILE, ''));
    return parts.join('\n');
  }

  beforeAll(async () => {
    h = await createHarness(engine);
    const spec = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    clientRoutes = Object.entries(spec.paths)
      .filter(([p]) => p.startsWith('/v1/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })))
      .filter((r) => ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'].includes(r.method));
    a = await tenant('Alpha Attacker', 'alpha@example.com');
    b = await tenant('Bravo Victim', 'bravo@example.com');
    // B owns more than one kind of thing: a second key, and whatever its own routes create.
    const k = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { 'x-api-key': b.apiKey },
      payload: { name: 'bravo-second', scopes: ['keys:write'] },
    });
    expect(k.statusCode).toBe(201);
    if (clientRoutes.some((r) => r.method === 'POST' && r.path === '/v1/credentials')) {
      const c = await h.app.inject({
        method: 'POST',
        url: '/v1/credentials',
        headers: { 'x-api-key': b.apiKey },
        payload: {
          provider: 'gemini',
          credentialName: 'bravo-gemini',
          credentials: { apiKey: 'AIzaBravoSecretValue000000000000000' },
          credentialType: 'api_key',
          permissions: 'read_only',
        },
      });
      expect(c.statusCode).toBe(201);
    }
    await h.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': b.apiKey } });
    // …and an invoice of its own.
    const system = { type: 'system' as const, id: 'test' };
    await h.services.billing.setPaymentDetails(
      b.clientId,
      { method: 'card', frequency: 'weekly', invoiceWhenEmpty: true },
      system,
    );
    await h.services.billing.run({ actor: system });
    const seen = await snapshotOf(b);
    bIds = [...new Set([...seen.matchAll(ID)].map((m) => m[0]))].filter((id) => id !== b.clientId);
    expect(bIds.filter((id) => id.startsWith('key_')).length).toBeGreaterThanOrEqual(2);
    expect(bIds.some((id) => id.startsWith('inv_'))).toBe(true);
    expect(bIds.some((id) => id.startsWith('cred_'))).toBe(true);
  });
  afterAll(async () => h?.close());

  it('covers the client routes that take an id', () => {
    const withId = clientRoutes.filter((r) => r.path.includes('{id}'));
    expect(withId.length).toBeGreaterThanOrEqual(3);
  });

  it("answers every route with B's ids exactly like a missing resource, and changes nothing of B's", async () => {
    const before = await snapshotOf(b);
    const attempts: string[] = [];
    for (const r of clientRoutes.filter((r) => r.path.includes('{id}'))) {
      for (const id of [...bIds, 'key_000000000000000000000000']) {
        const url = r.path.replace('{id}', id);
        const sample = SAMPLE_BODIES[`${r.method} ${r.path}`];
        const res = await h.app.inject({
          method: r.method as 'GET',
          url,
          headers: { 'x-api-key': a.apiKey },
          ...(r.method === 'GET' || r.method === 'DELETE'
            ? {}
            : { payload: (sample ?? {}) as object }),
        });
        attempts.push(`${r.method} ${url} → ${res.statusCode}`);
        expect(res.statusCode, `${r.method} ${url}: ${res.body}`).toBe(404);
        expect(res.json().error.code).toBe('not_found');
        for (const secret of [b.name, b.email, b.clientId]) expect(res.body).not.toContain(secret);
      }
    }
    expect(attempts.length).toBeGreaterThan(0);
    expect(await snapshotOf(b)).toBe(before);
  });

  it("lists nothing of B's on any list route", async () => {
    for (const r of clientRoutes.filter((r) => r.method === 'GET' && !r.path.includes('{'))) {
      const res = await h.app.inject({
        method: 'GET',
        url: r.path,
        headers: { 'x-api-key': a.apiKey },
      });
      for (const id of [...bIds, b.clientId, b.name, b.email]) {
        expect(res.body, `${r.path} leaks ${id}`).not.toContain(id);
      }
    }
  });

  it("cannot reach B through query parameters naming B's client", async () => {
    for (const r of clientRoutes.filter((r) => r.method === 'GET' && !r.path.includes('{'))) {
      const res = await h.app.inject({
        method: 'GET',
        url: `${r.path}?clientId=${b.clientId}&client=${b.clientId}`,
        headers: { 'x-api-key': a.apiKey },
      });
      expect(res.body).not.toContain(b.name);
      for (const id of bIds) expect(res.body).not.toContain(id);
    }
  });

  it("B's keys keep working after every attempt", async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { 'x-api-key': b.apiKey },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().client.id).toBe(b.clientId);
  });
});
