import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../test/support/stores.ts';
import { startTestKeyplane, type TestKeyplane } from '../test-support/keyplane.ts';
import { Keyplane, KeyplaneError } from './index.ts';

async function rejection(p: Promise<unknown>): Promise<KeyplaneError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyplaneError);
    return err as KeyplaneError;
  }
  throw new Error('expected a KeyplaneError');
}

describe.each(ENGINES)('SDK client against a real Keyplane (%s)', (engine) => {
  let kp: TestKeyplane;
  let admin: Keyplane;

  beforeAll(async () => {
    kp = await startTestKeyplane(engine);
    admin = new Keyplane({ baseUrl: kp.url, adminToken: kp.adminToken });
  });
  afterAll(async () => kp?.close());

  it('creates a client, shows the key once, and the key passes /v1/health', async () => {
    const created = await admin.clients.create({ name: 'Acme Corp', email: 'security@acme.com' });
    expect(created.apiKey).toMatch(/^kp_live_/);
    expect(created.client.name).toBe('Acme Corp');
    expect(created.key.start).toBe(created.apiKey.slice(0, created.key.start.length));
    const health = await admin.withApiKey(created.apiKey).client.health();
    expect(health).toMatchObject({
      status: 'ok',
      client: { id: created.client.id, name: 'Acme Corp' },
    });
    const me = await admin.withApiKey(created.apiKey).client.me();
    expect(me.key.id).toBe(created.key.id);
    // Keyplane keeps no copy of the key: the client's record never carries it.
    const got = await admin.clients.get(created.client.id);
    expect(JSON.stringify(got)).not.toContain(created.apiKey);
    expect(got.keys.map((k) => k.id)).toEqual([created.key.id]);
  });

  it('covers the admin client lifecycle: list, update, suspend, reactivate, delete', async () => {
    const { client, apiKey } = await admin.clients.create({ name: 'TechCo', email: 'a@tech.co' });
    const acme = admin.withApiKey(apiKey);
    const listed = await admin.clients.list({ limit: 1000 });
    expect(listed.data.map((c) => c.id)).toContain(client.id);
    expect((await admin.clients.update(client.id, { tier: 'pro' })).client.tier).toBe('pro');

    await admin.clients.suspend(client.id, 'unpaid');
    const suspended = await rejection(acme.client.health());
    expect(suspended).toMatchObject({ status: 403, code: 'client_suspended' });
    expect(suspended.requestId).toMatch(/\S/);

    await admin.clients.reactivate(client.id);
    expect((await acme.client.health()).status).toBe('ok');

    expect((await admin.clients.delete(client.id)).client.status).toBe('deleted');
    expect((await rejection(acme.client.health())).status).toBe(401);
  });

  it('manages keys: create, list, revoke, reactivate, roll, delete, verify', async () => {
    const { client } = await admin.clients.create({ name: 'SecureInc', email: 's@secure.inc' });
    const made = await admin.keys.create(client.id, {
      name: 'worker',
      environment: 'test',
      scopes: ['video:write'],
    });
    expect(made.apiKey).toMatch(/^kp_test_/);
    expect((await admin.keys.list(client.id)).data).toHaveLength(2);
    expect((await admin.keys.get(client.id, made.key.id)).key.scopes).toEqual(['video:write']);

    const ok = await admin.verify({ key: made.apiKey, scopes: ['video:write'] });
    expect(ok).toMatchObject({
      valid: true,
      code: 'VALID',
      clientId: client.id,
      keyId: made.key.id,
      environment: 'test',
    });
    expect((await admin.verify({ key: made.apiKey, scopes: ['admin'] })).code).toBe(
      'INSUFFICIENT_SCOPE',
    );

    await admin.keys.revoke(client.id, made.key.id, 'leaked');
    expect((await admin.verify({ key: made.apiKey })).code).toBe('REVOKED');
    await admin.keys.reactivate(client.id, made.key.id);
    expect((await admin.verify({ key: made.apiKey })).valid).toBe(true);

    const rolled = await admin.keys.roll(client.id, made.key.id, { gracePeriodSeconds: 0 });
    expect(rolled.rolled.id).toBe(made.key.id);
    expect((await admin.verify({ key: rolled.apiKey })).valid).toBe(true);
    expect((await admin.verify({ key: made.apiKey })).valid).toBe(false);

    await admin.keys.delete(client.id, rolled.key.id);
    expect((await rejection(admin.keys.get(client.id, rolled.key.id))).code).toBe('not_found');
  });

  it("answers another client's resource exactly like a missing one", async () => {
    const a = await admin.clients.create({ name: 'A', email: 'a@a.test' });
    const b = await admin.clients.create({ name: 'B', email: 'b@b.test' });
    const foreign = await rejection(admin.keys.get(b.client.id, a.key.id));
    const missing = await rejection(admin.keys.get(b.client.id, 'key_doesnotexist'));
    expect([foreign.status, foreign.code]).toEqual([missing.status, missing.code]);
    const viaClientApi = await rejection(admin.withApiKey(b.apiKey).client.keys.get(a.key.id));
    expect(viaClientApi).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('self-service keys, usage, invoices and credentials through the client API', async () => {
    const { client } = await admin.clients.create({ name: 'Self', email: 'self@x.test' });
    const power = await admin.keys.create(client.id, {
      scopes: ['keys:write', 'credentials:read', 'credentials:write'],
    });
    const me = admin.withApiKey(power.apiKey);
    const child = await me.client.keys.create({ name: 'ci', scopes: ['credentials:read'] });
    expect(child.apiKey).toMatch(/^kp_live_/);
    expect((await me.client.keys.list()).data.map((k) => k.id)).toContain(child.key.id);
    const beyond = await rejection(me.client.keys.create({ scopes: ['admin:everything'] }));
    expect(beyond.status).toBe(403);
    const rolled = await me.client.keys.roll(child.key.id, { gracePeriodSeconds: 0 });
    await me.client.keys.revoke(rolled.key.id, 'done');
    expect((await admin.verify({ key: rolled.apiKey })).code).toBe('REVOKED');

    await kp.services.usage.flush();
    const usage = await me.client.usage({ groupBy: 'endpoint' });
    expect(usage.totals.calls).toBeGreaterThan(0);
    expect(usage.groups.map((g) => g.group)).toContain('POST /v1/keys');
    expect((await me.client.keys.usage(power.key.id)).calls).toBeGreaterThan(0);
    expect((await me.client.invoices.list()).data).toEqual([]);

    const cred = await me.client.credentials.create({
      provider: 'vultr',
      credentialName: 'prod',
      credentials: { apiKey: 'VULTR-SECRET-123456' },
    });
    expect(JSON.stringify(cred)).not.toContain('VULTR-SECRET');
    expect((await me.client.credentials.list()).data.map((c) => c.id)).toEqual([cred.id]);
    expect((await me.client.credentials.summary()).totalCredentials).toBe(1);
    await me.client.credentials.delete(cred.id);
    expect((await me.client.credentials.get(cred.id)).isActive).toBe(false);
  });

  it('admin usage, invoices and audit', async () => {
    await kp.services.usage.flush();
    const usage = await admin.usage.query({ groupBy: 'client' });
    expect(usage.currency).toBe('EUR');
    expect(usage.totals.calls).toBeGreaterThan(0);
    expect((await admin.invoices.list()).data).toBeInstanceOf(Array);
    const audit = await admin.audit.list({ action: 'client.created', limit: 5 });
    expect(audit.data.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit.data)).not.toMatch(/kp_live_\w{40}/);
    expect((await admin.audit.verify()).ok).toBe(true);
  });

  it('turns the error envelope into KeyplaneError, and refuses calls without credentials', async () => {
    const narrow = new Keyplane({
      baseUrl: kp.url,
      adminToken: await kp.adminTokenWith(['verify']),
    });
    const denied = await rejection(narrow.clients.list());
    expect(denied).toMatchObject({ status: 403, code: 'insufficient_scope' });
    const bad = await rejection(
      new Keyplane({ baseUrl: kp.url, adminToken: 'kpadm_live_nope' }).clients.list(),
    );
    expect(bad).toMatchObject({ status: 401, code: 'unauthorized' });
    const invalid = await rejection(admin.clients.create({ name: '', email: 'x@y.z' }));
    expect(invalid).toMatchObject({ status: 400, code: 'validation_failed' });
    const noKey = await rejection(admin.client.health());
    expect(noKey).toMatchObject({ status: 0, code: 'not_configured' });
    expect(await admin.healthz()).toBe(true);
  });
});

describe('SDK transport: retries and timeouts (a flaky server on loopback)', () => {
  let server: Server;
  let url: string;
  const hits: string[] = [];
  let failuresLeft = 0;
  let silent = false;

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (silent) return; // never answers
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(
          JSON.stringify({
            error: { code: 'service_unavailable', message: 'busy', requestId: 'req_x' },
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: [], nextCursor: null }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('retries a GET on 503 and succeeds', async () => {
    hits.length = 0;
    failuresLeft = 2;
    const kp = new Keyplane({ baseUrl: url, adminToken: 't', retries: 2, retryDelayMs: 1 });
    await expect(kp.clients.list()).resolves.toEqual({ data: [], nextCursor: null });
    expect(hits).toHaveLength(3);
  });

  it('gives up after `retries` and reports the last error', async () => {
    hits.length = 0;
    failuresLeft = 5;
    const kp = new Keyplane({ baseUrl: url, adminToken: 't', retries: 1, retryDelayMs: 1 });
    const err = await rejection(kp.clients.list());
    expect(err).toMatchObject({ status: 503, code: 'service_unavailable', requestId: 'req_x' });
    expect(hits).toHaveLength(2);
    failuresLeft = 0;
  });

  it('never repeats a non-idempotent POST', async () => {
    hits.length = 0;
    failuresLeft = 1;
    const kp = new Keyplane({ baseUrl: url, adminToken: 't', retries: 3, retryDelayMs: 1 });
    expect((await rejection(kp.clients.create({ name: 'n', email: 'e@x.y' }))).status).toBe(503);
    expect(hits).toEqual(['POST /admin/v1/clients']);
  });

  it('repeats a POST that is safe to repeat (usage events carry request ids)', async () => {
    hits.length = 0;
    failuresLeft = 1;
    const kp = new Keyplane({ baseUrl: url, adminToken: 't', retries: 3, retryDelayMs: 1 });
    await kp.usage.record([
      {
        requestId: 'r1',
        clientId: 'c',
        keyId: 'k',
        endpoint: 'GET /x',
        method: 'GET',
        status: 200,
      },
    ]);
    expect(hits).toEqual(['POST /admin/v1/usage/events', 'POST /admin/v1/usage/events']);
  });

  it('times out a silent server, and reports an unreachable one as network_error', async () => {
    silent = true;
    const slow = new Keyplane({ baseUrl: url, adminToken: 't', timeoutMs: 200, retries: 0 });
    expect(await rejection(slow.clients.list())).toMatchObject({ status: 0, code: 'timeout' });
    silent = false;
    const closed = new Keyplane({
      baseUrl: 'http://127.0.0.1:1',
      adminToken: 't',
      retries: 1,
      retryDelayMs: 1,
    });
    expect(await rejection(closed.clients.list())).toMatchObject({
      status: 0,
      code: 'network_error',
    });
  });
});
