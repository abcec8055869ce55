import { serve, type ServerType } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestKeyplane, type TestKeyplane } from '../test-support/keyplane.ts';
import { keyplaneExpress } from './express.ts';
import { keyplaneFastify } from './fastify.ts';
import { keyplaneHono, type KeyplaneEnv } from './hono.ts';
import { Keyplane, KeyVerifier, UsageReporter, type MiddlewareOptions } from './index.ts';

/**
 * The same contract for every framework (Hono's shared-router-test idea): a real Keyplane on
 * loopback, a real server of each framework on loopback, real keys.
 */
interface Running {
  url: string;
  close(): Promise<void>;
}

type Build = (auth: MiddlewareOptions, scoped: MiddlewareOptions) => Promise<Running>;

const FRAMEWORKS: Array<[string, Build]> = [
  [
    'fastify',
    async (auth, scoped) => {
      const app = Fastify();
      app.get('/things/:id', { preHandler: keyplaneFastify(auth) }, async (request) => ({
        id: (request.params as { id: string }).id,
        keyplane: request.keyplane,
      }));
      app.get('/admin-only', { preHandler: keyplaneFastify(scoped) }, async (request) => ({
        keyplane: request.keyplane,
      }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return {
        url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
        close: () => app.close(),
      };
    },
  ],
  [
    'express',
    async (auth, scoped) => {
      const app = express();
      app.get('/things/:id', keyplaneExpress(auth), (req, res) => {
        res.json({ id: req.params.id, keyplane: req.keyplane });
      });
      app.get('/admin-only', keyplaneExpress(scoped), (req, res) => {
        res.json({ keyplane: req.keyplane });
      });
      const server: Server = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      };
    },
  ],
  [
    'hono',
    async (auth, scoped) => {
      const app = new Hono<KeyplaneEnv>();
      app.get('/things/:id', keyplaneHono(auth), (c) =>
        c.json({ id: c.req.param('id'), keyplane: c.get('keyplane') }),
      );
      app.get('/admin-only', keyplaneHono(scoped), (c) => c.json({ keyplane: c.get('keyplane') }));
      const server: ServerType = await new Promise((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () =>
          new Promise((r) => {
            (server as Server).closeAllConnections?.();
            server.close(() => r());
          }),
      };
    },
  ],
];

describe('middleware against a real Keyplane', () => {
  let kp: TestKeyplane;
  let admin: Keyplane;
  beforeAll(async () => {
    kp = await startTestKeyplane('sqlite', { 'GET /things/:id': '0.02' });
    admin = new Keyplane({ baseUrl: kp.url, adminToken: kp.adminToken });
  });
  afterAll(async () => kp?.close());

  describe.each(FRAMEWORKS)('%s', (framework, build) => {
    let server: Running;
    let clock = Date.now();
    let verifier: KeyVerifier;
    let reporter: UsageReporter;
    let clientId: string;
    let key: string;
    let keyId: string;

    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { headers });

    beforeAll(async () => {
      // A narrow admin token: exactly what a service behind Keyplane needs.
      const token = await kp.adminTokenWith(['verify', 'usage:write']);
      verifier = new KeyVerifier({
        baseUrl: kp.url,
        adminToken: token,
        cacheTtlMs: 60_000,
        negativeCacheTtlMs: 1000,
        now: () => clock,
      });
      reporter = new UsageReporter({ baseUrl: kp.url, adminToken: token, flushIntervalMs: 50 });
      server = await build({ verifier, report: reporter }, { verifier, scopes: ['reports:admin'] });
      const created = await admin.clients.create({
        name: `${framework} client`,
        email: `${framework}@example.test`,
      });
      clientId = created.client.id;
      // The first key of a client holds every scope ('*'): use a narrower one.
      const narrow = await admin.keys.create(clientId, { scopes: ['things:read'] });
      key = narrow.apiKey;
      keyId = narrow.key.id;
    });
    afterAll(async () => {
      await server?.close();
      await reporter?.close();
    });

    it('lets a valid key through and puts {client, key} on the request', async () => {
      const res = await get('/things/42', { 'x-api-key': key });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        id: '42',
        keyplane: {
          client: { id: clientId },
          key: { id: keyId, environment: 'live', scopes: ['things:read'], meta: {} },
          remaining: null,
        },
      });
      // Authorization: Bearer works too.
      expect((await get('/things/1', { authorization: `Bearer ${key}` })).status).toBe(200);
    });

    it('answers 401 in the error envelope for no key, a malformed key and an unknown key', async () => {
      const none = await get('/things/1');
      expect(none.status).toBe(401);
      const body = (await none.json()) as { error: { code: string; requestId: string } };
      expect(body.error.code).toBe('unauthorized');
      expect(body.error.requestId).toMatch(/\S/);
      expect((await get('/things/1', { 'x-api-key': 'kp_live_nope' })).status).toBe(401);
      const doomed = await admin.keys.create(clientId, { name: 'doomed' });
      await admin.keys.delete(clientId, doomed.key.id);
      const unknown = await get('/things/1', { 'x-api-key': doomed.apiKey });
      expect(unknown.status).toBe(401);
      expect(((await unknown.json()) as { error: { message: string } }).error.message).toBe(
        'unknown API key',
      );
    });

    it('answers 403 when the key lacks a required scope, and passes when it has it', async () => {
      const res = await get('/admin-only', { 'x-api-key': key });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'insufficient_scope',
      );
      const scoped = await admin.keys.create(clientId, { scopes: ['reports:admin'] });
      const ok = await get('/admin-only', { 'x-api-key': scoped.apiKey });
      expect(ok.status).toBe(200);
      expect(
        ((await ok.json()) as { keyplane: { key: { scopes: string[] } } }).keyplane.key.scopes,
      ).toEqual(['reports:admin']);
    });

    it('answers 429 with Retry-After when credits run out (each call reaches Keyplane)', async () => {
      const metered = await admin.keys.create(clientId, { credits: 2 });
      const h = { 'x-api-key': metered.apiKey };
      const first = await get('/things/1', h);
      expect(first.status).toBe(200);
      expect(((await first.json()) as { keyplane: { remaining: number } }).keyplane.remaining).toBe(
        1,
      );
      expect((await get('/things/1', h)).status).toBe(200);
      const out = await get('/things/1', h);
      expect(out.status).toBe(429);
      expect(((await out.json()) as { error: { code: string } }).error.code).toBe('usage_exceeded');
      expect(Number(out.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('answers 429 with RateLimit-* headers when the key is rate limited', async () => {
      const limited = await admin.keys.create(clientId, {
        rateLimit: { limit: 2, windowSeconds: 60 },
      });
      const h = { 'x-api-key': limited.apiKey };
      const ok = await get('/things/1', h);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit-limit')).toBe('2');
      expect(ok.headers.get('ratelimit-remaining')).toBe('1');
      expect((await get('/things/1', h)).status).toBe(200);
      const limitedRes = await get('/things/1', h);
      expect(limitedRes.status).toBe(429);
      expect(((await limitedRes.json()) as { error: { code: string } }).error.code).toBe(
        'rate_limited',
      );
      expect(limitedRes.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(limitedRes.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(limitedRes.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    });

    it('answers a repeated valid key from its cache: Keyplane sees one verification', async () => {
      const fresh = await admin.keys.create(clientId, { name: 'cached' });
      const h = { 'x-api-key': fresh.apiKey };
      const before = await kp.verifyCalls();
      const cachedBefore = verifier.stats.cached;
      expect((await get('/things/1', h)).status).toBe(200);
      await waitUntil(async () => (await kp.verifyCalls()) >= before + 1);
      expect((await get('/things/2', h)).status).toBe(200);
      expect((await get('/things/3', h)).status).toBe(200);
      expect(verifier.stats.cached - cachedBefore).toBe(2);
      expect(await kp.verifyCalls()).toBe(before + 1);
    });

    it('sees a revocation once the cache TTL has passed', async () => {
      const soon = await admin.keys.create(clientId, { name: 'revoked soon' });
      const h = { 'x-api-key': soon.apiKey };
      expect((await get('/things/1', h)).status).toBe(200);
      await admin.keys.revoke(clientId, soon.key.id, 'rotated');
      // Within the TTL the cached answer stands (the trade the cache makes)…
      expect((await get('/things/1', h)).status).toBe(200);
      // …and after it, Keyplane's answer is asked again.
      clock += 60_001;
      const res = await get('/things/1', h);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        'API key revoked',
      );
    });

    it("passes the caller's address to Keyplane for IP allowlists", async () => {
      const local = await admin.keys.create(clientId, { ipAllowlist: ['127.0.0.1/32', '::1'] });
      expect((await get('/things/1', { 'x-api-key': local.apiKey })).status).toBe(200);
      const remote = await admin.keys.create(clientId, { ipAllowlist: ['10.0.0.0/8'] });
      const res = await get('/things/1', { 'x-api-key': remote.apiKey });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ip_not_allowed');
    });

    it('answers 403 for a suspended client', async () => {
      const other = await admin.clients.create({ name: 'suspend me', email: 'sus@example.test' });
      await admin.clients.suspend(other.client.id);
      const res = await get('/things/1', { 'x-api-key': other.apiKey });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'client_suspended',
      );
    });

    it('meters each authenticated call as METHOD /route-template into Keyplane', async () => {
      const m = await admin.clients.create({ name: 'metered', email: 'm@example.test' });
      const narrow = await admin.keys.create(m.client.id, { scopes: ['things:read'] });
      const h = { 'x-api-key': narrow.apiKey };
      for (let i = 0; i < 3; i++) expect((await get(`/things/${i}`, h)).status).toBe(200);
      expect((await get('/admin-only', h)).status).toBe(403); // refused: never metered
      await reporter.flush();
      await kp.services.usage.flush();
      const usage = await admin.usage.query({ clientId: m.client.id, groupBy: 'endpoint' });
      expect(usage.groups.map((g) => [g.group, g.calls, g.cost])).toEqual([
        ['GET /things/:id', 3, '0.06'],
      ]);
    });

    it('on a budget, verifies each call (no cached answer) and settles its reservation by its report', async () => {
      const b = await admin.clients.create({ name: 'budgeted', email: 'b@example.test' });
      const narrow = await admin.keys.create(b.client.id, { scopes: ['things:read'] });
      // Room for three calls at 0.02.
      const budget = await kp.services.budgets.create(
        b.client.id,
        { amountMicros: 60_000, period: 'day', mode: 'hard' },
        { type: 'system', id: 'test' },
      );
      const h = { 'x-api-key': narrow.apiKey };
      const before = { ...verifier.stats };
      const calls = await Promise.all([1, 2, 3].map((i) => get(`/things/${i}`, h)));
      expect(calls.map((r) => r.status)).toEqual([200, 200, 200]);
      // A reserved answer is one call's: every call asked Keyplane, none came from the cache.
      expect(verifier.stats.remote - before.remote).toBe(3);
      expect(verifier.stats.cached - before.cached).toBe(0);
      const refused = await get('/things/4', h);
      expect(refused.status).toBe(429);
      await reporter.flush();
      await kp.services.usage.flush();
      // Each report named its call's reservation: settled, nothing left held.
      const spent = (await kp.services.budgets.get(b.client.id, budget.id)).current.spentMicros;
      const usage = await admin.usage.query({ clientId: b.client.id, groupBy: 'endpoint' });
      expect(spent).toBe(60_000);
      expect(usage.totals.costMicros).toBe(60_000);
      const open = await kp.services.store.db
        .selectFrom('budget_reservations')
        .select('id')
        .where('client_id', '=', b.client.id)
        .where('settled_at', 'is', null)
        .execute();
      expect(open).toEqual([]);
    });
  });

  it('fails closed with 503 when Keyplane cannot be reached', async () => {
    const verifier = new KeyVerifier({ baseUrl: 'http://127.0.0.1:1', adminToken: 'x' });
    const app = Fastify();
    app.get('/x', { preHandler: keyplaneFastify({ verifier }) }, async () => 'never');
    const res = await app.inject({ url: '/x', headers: { 'x-api-key': 'kp_live_abc' } });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('service_unavailable');
    await app.close();
  });

  it('bounds the cache: the least recently used answers are dropped', async () => {
    const { apiKey } = await admin.clients.create({ name: 'lru', email: 'lru@example.test' });
    const verifier = new KeyVerifier({ baseUrl: kp.url, adminToken: kp.adminToken, cacheSize: 2 });
    await verifier.verify({ key: apiKey, ip: '10.0.0.1' });
    await verifier.verify({ key: apiKey, ip: '10.0.0.2' });
    await verifier.verify({ key: apiKey, ip: '10.0.0.1' }); // refreshes .1
    await verifier.verify({ key: apiKey, ip: '10.0.0.3' }); // evicts .2
    expect(verifier.stats).toEqual({ remote: 3, cached: 1 });
    expect((await verifier.verify({ key: apiKey, ip: '10.0.0.1' })).cached).toBe(true);
    expect((await verifier.verify({ key: apiKey, ip: '10.0.0.2' })).cached).toBe(false);
  });
});

async function waitUntil(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
