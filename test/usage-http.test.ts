import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';
import { storedUsage } from './support/usage.ts';

const PRICING = {
  'GET /v1/health': 0.01,
  'GET /v1/me': '0.05',
  'POST /v1/proxy/gemini/*': '0.002',
  '*': 0,
};

describe.each(ENGINES)('usage metering and rate limits over HTTP on %s', (engine) => {
  let h: Harness;
  let clock: ReturnType<typeof createManualClock>;

  // Each test its own server, clock and metrics: no test counts another's calls.
  beforeEach(async () => {
    clock = createManualClock(new Date('2025-10-02T10:15:00.000Z'));
    h = await createHarness(engine, {
      clock,
      file: {
        pricing: PRICING,
        rateLimits: {
          tiers: { free: { limit: 3, windowSeconds: 60 } },
          endpoints: { 'GET /v1/me': { limit: 2, windowSeconds: 10 } },
        },
      },
    });
  });
  afterEach(async () => h?.close());

  async function createClient(name: string, body: Record<string, unknown> = {}) {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name, email: `${name.toLowerCase().replace(/\W/g, '')}@example.com`, ...body },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { client: { id: string }; key: { id: string }; apiKey: string };
  }

  async function createKey(clientId: string, body: Record<string, unknown>) {
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${clientId}/keys`,
      headers: h.adminHeaders,
      payload: body,
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { key: { id: string }; apiKey: string };
  }

  /** onResponse hooks run after inject() resolves: let them, then write the queue. */
  async function settle() {
    await new Promise((r) => setImmediate(r));
    await h.services.usage.flush();
  }

  const get = (url: string, key: string) =>
    h.app.inject({ method: 'GET', url, headers: { 'x-api-key': key } });

  it('meters N concurrent calls as exactly N events and exactly N × price', async () => {
    const c = await createClient('Acme Corp');
    const N = 300;
    const answers = await Promise.all(Array.from({ length: N }, () => get('/v1/health', c.apiKey)));
    expect(answers.every((r) => r.statusCode === 200)).toBe(true);
    // No limit applies to this key: no RateLimit headers.
    expect(answers[0]!.headers['ratelimit-limit']).toBeUndefined();
    await settle();
    expect(await storedUsage(h.services.store.db, c.client.id)).toEqual({
      calls: N,
      costMicros: N * 10_000,
    });
    const res = await get('/v1/usage?from=2025-10-01&to=2025-10-03&groupBy=endpoint', c.apiKey);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      from: '2025-10-01T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      currency: 'EUR',
      totals: { calls: N, testCalls: 0, costMicros: N * 10_000, cost: '3.00' },
      groups: [
        { group: 'GET /v1/health', calls: N, testCalls: 0, costMicros: N * 10_000, cost: '3.00' },
      ],
    });
    const lines = await h.services.usage.billingLines({
      from: '2025-10-01T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      clientIds: [c.client.id],
    });
    expect(lines).toEqual([
      {
        clientId: c.client.id,
        endpoint: 'GET /v1/health',
        unitPriceMicros: 10_000,
        calls: N,
        amountMicros: N * 10_000,
      },
    ]);
  });

  it('records test keys as test usage at price 0, never in billing lines', async () => {
    const c = await createClient('TechCo');
    const t = await createKey(c.client.id, { environment: 'test', name: 'dev' });
    for (let i = 0; i < 4; i++) expect((await get('/v1/health', t.apiKey)).statusCode).toBe(200);
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(200);
    await settle();
    const res = await get('/v1/usage?from=2025-10-02&to=2025-10-03&groupBy=key', c.apiKey);
    const body = res.json();
    expect(body.totals).toEqual({ calls: 5, testCalls: 4, costMicros: 10_000, cost: '0.01' });
    expect(body.groups).toContainEqual({
      group: t.key.id,
      calls: 4,
      testCalls: 4,
      costMicros: 0,
      cost: '0.00',
    });
    const lines = await h.services.usage.billingLines({
      from: '2025-10-02T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      clientIds: [c.client.id],
    });
    expect(lines.reduce((s, l) => s + l.calls, 0)).toBe(1);
  });

  it("answers per-key statistics by endpoint and status code; another client's key is 404", async () => {
    const a = await createClient('SecureInc');
    const b = await createClient('Other Co');
    await get('/v1/health', a.apiKey);
    await get('/v1/health', a.apiKey);
    await get('/v1/keys/key_000000000000000000000000', a.apiKey); // 404, still metered
    await settle();
    const res = await get(`/v1/keys/${a.key.id}/usage?from=2025-10-02&to=2025-10-03`, a.apiKey);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.calls).toBe(3);
    expect(body.statusCodes).toEqual({ '200': 2, '404': 1 });
    expect(body.endpoints.map((e: { endpoint: string }) => e.endpoint).sort()).toEqual([
      'GET /v1/health',
      'GET /v1/keys/:id',
    ]);
    const other = await get(`/v1/keys/${a.key.id}/usage`, b.apiKey);
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('not_found');
  });

  it('admin usage groups across clients', async () => {
    const a = await createClient('Group A');
    const b = await createClient('Group B');
    for (let i = 0; i < 3; i++) await get('/v1/health', a.apiKey);
    await get('/v1/me', b.apiKey);
    await settle();
    const res = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/usage?from=2025-10-02&to=2025-10-03&groupBy=client',
      headers: h.adminHeaders,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const raw = await storedUsage(h.services.store.db);
    expect(body.totals.calls).toBe(raw.calls);
    expect(body.totals.costMicros).toBe(raw.costMicros);
    expect(body.totals).toMatchObject({ calls: 4, costMicros: 3 * 10_000 + 50_000 });
    expect(body.groups).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ group: a.client.id, calls: 3, costMicros: 30_000 }),
        expect.objectContaining({ group: b.client.id, calls: 1, costMicros: 50_000 }),
      ]),
    );
    expect(body.groups).toHaveLength(2);
    const noToken = await h.app.inject({ method: 'GET', url: '/admin/v1/usage' });
    expect(noToken.statusCode).toBe(401);
  });

  it('rejects a bad range with a validation error', async () => {
    const c = await createClient('Range Co');
    const res = await get('/v1/usage?from=yesterday', c.apiKey);
    expect(res.statusCode).toBe(400);
    const rev = await get('/v1/usage?from=2025-10-03&to=2025-10-01', c.apiKey);
    expect(rev.statusCode).toBe(400);
  });

  it('limits a key by its own sliding window, with RateLimit headers and 429 + Retry-After', async () => {
    const c = await createClient('Limited');
    const k = await createKey(c.client.id, { rateLimit: { limit: 5, windowSeconds: 60 } });
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await get('/v1/health', k.apiKey);
      expect(r.statusCode).toBe(200);
      expect(r.headers['ratelimit-limit']).toBe('5');
      seen.push(Number(r.headers['ratelimit-remaining']));
      clock.advance(1000);
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    const refused = await get('/v1/health', k.apiKey);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('rate_limited');
    expect(refused.headers['ratelimit-remaining']).toBe('0');
    // The first call leaves the window 60 s after it was made, 55 s from now.
    expect(refused.headers['retry-after']).toBe('55');
    expect(refused.headers['ratelimit-reset']).toBe('55');
    // Refused calls are not metered and do not use the window.
    clock.advance(55_000);
    expect((await get('/v1/health', k.apiKey)).statusCode).toBe(200);
    expect((await get('/v1/health', k.apiKey)).statusCode).toBe(429);
    clock.advance(1000);
    expect((await get('/v1/health', k.apiKey)).statusCode).toBe(200);
    await settle();
    expect((await storedUsage(h.services.store.db, c.client.id)).calls).toBe(7);
  });

  it('applies the tier default when the key and client have none, and endpoint limits on top', async () => {
    const c = await createClient('Free Tier', { tier: 'free' });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await get('/v1/health', c.apiKey)).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);

    const d = await createClient('Endpoint Limited');
    const me: number[] = [];
    for (let i = 0; i < 3; i++) me.push((await get('/v1/me', d.apiKey)).statusCode);
    expect(me).toEqual([200, 200, 429]);
    // Other endpoints are not held by the /v1/me window.
    expect((await get('/v1/health', d.apiKey)).statusCode).toBe(200);
    clock.advance(10_000);
    expect((await get('/v1/me', d.apiKey)).statusCode).toBe(200);
  });

  it('exposes metering and rate-limit metrics', async () => {
    const free = await createClient('Metrics Free', { tier: 'free' });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await get('/v1/health', free.apiKey)).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const plain = await createClient('Metrics Dev');
    const dev = await createKey(plain.client.id, { environment: 'test', name: 'dev' });
    for (let i = 0; i < 4; i++) expect((await get('/v1/health', dev.apiKey)).statusCode).toBe(200);
    await settle();
    const text = await h.services.metrics.registry.metrics();
    expect(text).toMatch(/keyplane_ratelimit_refusals_total\{backend="memory"\} [1-9]/);
    expect(text).toMatch(/keyplane_usage_queue_depth 0/);
    expect(text).toMatch(/keyplane_usage_flush_seconds_count [1-9]/);
    expect(text).toMatch(/keyplane_verifications_total\{outcome="RATE_LIMITED"\} [1-9]/);
    expect(text).toMatch(/keyplane_usage_events_total\{environment="test"\} 4/);
  });
});
