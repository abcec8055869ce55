import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { startServer } from '../src/server.ts';
import { createHarness, logCapture, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { tempDir } from './support/keyplane-process.ts';
import { ENGINES } from './support/stores.ts';
import { storedUsage } from './support/usage.ts';

/**
 * The web dashboard's sessions (SPEC §8, the dashboard contract) over real loopback HTTP:
 * sign-in with an admin token or a client key gives an HttpOnly cookie holding a random id,
 * and that cookie (with `X-Keyplane-Dashboard: 1`) stands in for the header credential on the
 * existing API, with exactly the token's or key's powers, for as long as they still work.
 */
const COOKIE =
  /^kp_session=([A-Za-z0-9_-]{43}); Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/;
const CLEARED = 'kp_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0';
const DASH = { 'x-keyplane-dashboard': '1' };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface Answer {
  status: number;
  text: string;
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  setCookie: string[];
}

interface Tenant {
  clientId: string;
  keyId: string;
  apiKey: string;
  name: string;
}

describe.each(ENGINES)('dashboard sessions on %s', (engine) => {
  let h: Harness;
  let base: string;
  const clock = createManualClock(new Date('2026-03-02T09:00:00.000Z'));
  let a: Tenant;
  let b: Tenant;
  /** A's key with keys:write (self-service key management through the portal). */
  let aWriter: Tenant;
  let bCredentialId: string;
  let bInvoiceId: string;

  async function call(
    method: string,
    path: string,
    opts: { cookie?: string; headers?: Record<string, string>; body?: unknown } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.cookie !== undefined) headers.cookie = opts.cookie;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { raw: text };
    }
    return { status: res.status, text, body, setCookie: res.headers.getSetCookie() };
  }

  /** Same as `call` with the session cookie and the dashboard header. */
  const dash = (method: string, path: string, cookie: string, body?: unknown) =>
    call(method, path, { cookie: `kp_session=${cookie}`, headers: DASH, body });

  async function signIn(credential: { adminToken: string } | { apiKey: string }) {
    const res = await call('POST', '/dashboard/api/session', { body: credential });
    expect(res.status, res.text).toBe(200);
    expect(res.setCookie).toHaveLength(1);
    const m = COOKIE.exec(res.setCookie[0]!);
    expect(m, res.setCookie[0]).not.toBeNull();
    return { cookie: m![1]!, res };
  }

  async function tenant(name: string, scopes?: string[]): Promise<Tenant> {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name, email: `${name.toLowerCase().replace(/\W/g, '')}@example.com` },
    });
    expect(res.statusCode, res.body).toBe(201);
    const t = {
      clientId: res.json().client.id,
      keyId: res.json().key.id,
      apiKey: res.json().apiKey,
      name,
    };
    return scopes ? keyOf(t, scopes) : t;
  }

  async function keyOf(
    t: Tenant,
    scopes: string[],
    extra: Record<string, unknown> = {},
  ): Promise<Tenant> {
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${t.clientId}/keys`,
      headers: h.adminHeaders,
      payload: { name: 'portal', scopes, ...extra },
    });
    expect(res.statusCode, res.body).toBe(201);
    return { ...t, keyId: res.json().key.id, apiKey: res.json().apiKey };
  }

  async function sessionRows() {
    return h.services.store.db.selectFrom('dashboard_sessions').selectAll().execute();
  }

  async function auditRows(action: string) {
    return h.services.store.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', action)
      .orderBy('seq', 'asc')
      .execute();
  }

  beforeAll(async () => {
    h = await createHarness(engine, {
      clock,
      file: { pricing: { '*': 0.01 }, billing: { invoiceEmptyClients: true } },
    });
    a = await tenant('Alpha Portal');
    b = await tenant('Bravo Other');
    aWriter = await keyOf(a, ['keys:write', 'credentials:read', 'credentials:write']);
    const cred = await h.app.inject({
      method: 'POST',
      url: '/v1/credentials',
      headers: { 'x-api-key': b.apiKey },
      payload: {
        provider: 'aws',
        credentialName: 'Bravo AWS',
        credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x'.repeat(40) },
      },
    });
    expect(cred.statusCode, cred.body).toBe(201);
    bCredentialId = cred.json().id;
    // A week later, invoice the week both clients existed in (empty invoices included).
    clock.advance(8 * 86_400_000);
    const run = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/invoices/run',
      headers: h.adminHeaders,
      payload: {},
    });
    expect(run.statusCode, run.body).toBe(200);
    const invoices = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/invoices?clientId=${b.clientId}`,
      headers: h.adminHeaders,
    });
    bInvoiceId = invoices
      .json()
      .data.find((i: { clientId: string }) => i.clientId === b.clientId)?.id;
    expect(bInvoiceId).toBeTruthy();
    base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('signs an operator in: exact cookie flags, the token never echoed, only its hash stored', async () => {
    const { cookie, res } = await signIn({ adminToken: h.adminToken });
    expect(res.body).toEqual({
      session: {
        kind: 'operator',
        name: 'test',
        scopes: ['admin'],
        clientId: null,
        keyId: null,
        expiresAt: new Date(clock.now().getTime() + 43_200_000).toISOString(),
      },
    });
    expect(res.text).not.toContain(h.adminToken);
    expect(res.text).not.toContain(cookie);
    const rows = await sessionRows();
    const row = rows.find((r) => r.token_hash === sha256(cookie));
    expect(row).toMatchObject({ kind: 'operator', client_id: null, key_hash: null });
    expect(JSON.stringify(rows)).not.toContain(cookie);
    expect(JSON.stringify(rows)).not.toContain(h.adminToken);

    const me = await dash('GET', '/dashboard/api/session', cookie);
    expect(me.status).toBe(200);
    expect(me.body).toEqual(res.body);
    const clients = await dash('GET', '/admin/v1/clients', cookie);
    expect(clients.status, clients.text).toBe(200);
    expect(clients.body.data.map((c: { id: string }) => c.id)).toContain(a.clientId);
  });

  it('signs a client in with a key: its name, scopes and ids, never the key', async () => {
    const { cookie, res } = await signIn({ apiKey: aWriter.apiKey });
    expect(res.body).toEqual({
      session: {
        kind: 'client',
        name: 'Alpha Portal',
        scopes: ['keys:write', 'credentials:read', 'credentials:write'],
        clientId: a.clientId,
        keyId: aWriter.keyId,
        expiresAt: new Date(clock.now().getTime() + 43_200_000).toISOString(),
      },
    });
    expect(res.text).not.toContain(aWriter.apiKey);
    const rows = await sessionRows();
    const row = rows.find((r) => r.token_hash === sha256(cookie))!;
    expect(row).toMatchObject({
      kind: 'client',
      client_id: a.clientId,
      key_id: aWriter.keyId,
      key_hash: sha256(aWriter.apiKey),
      admin_token_id: null,
    });
    expect(JSON.stringify(rows)).not.toContain(aWriter.apiKey);
    expect(JSON.stringify(rows)).not.toContain(cookie);

    for (const path of ['/v1/me', '/v1/keys', '/v1/usage', '/v1/health']) {
      const ok = await dash('GET', path, cookie);
      expect(ok.status, `${path} ${ok.text}`).toBe(200);
    }
    expect((await dash('GET', '/v1/me', cookie)).body.client.id).toBe(a.clientId);

    // Audited, with no secret anywhere in the trail.
    const signIns = await auditRows('dashboard.sign_in');
    expect(signIns.some((r) => r.client_id === a.clientId && r.actor_id === aWriter.keyId)).toBe(
      true,
    );
    const trail = JSON.stringify(
      await h.services.store.db.selectFrom('audit_log').selectAll().execute(),
    );
    for (const secret of [cookie, aWriter.apiKey, h.adminToken])
      expect(trail).not.toContain(secret);
  });

  it('refuses bad credentials in the envelope, setting no cookie', async () => {
    const cases: Array<[unknown, number, string]> = [
      [
        { adminToken: h.adminToken.slice(0, -1) + (h.adminToken.endsWith('A') ? 'B' : 'A') },
        401,
        'unauthorized',
      ],
      [{ adminToken: a.apiKey }, 401, 'unauthorized'],
      [{ apiKey: h.adminToken }, 401, 'unauthorized'],
      [{ apiKey: 'kp_live_nope' }, 401, 'unauthorized'],
      [{ apiKey: a.apiKey, adminToken: h.adminToken }, 400, 'validation_failed'],
      [{}, 400, 'validation_failed'],
      [{ apiKey: 42 }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of cases) {
      const res = await call('POST', '/dashboard/api/session', { body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error).toMatchObject({ code, requestId: expect.any(String) });
      expect(res.setCookie).toEqual([]);
      expect(res.text).not.toContain(h.adminToken);
      expect(res.text).not.toContain(a.apiKey);
    }
    const noSession = await call('GET', '/dashboard/api/session', { headers: DASH });
    expect(noSession.status).toBe(401);
    expect(noSession.body.error.code).toBe('unauthorized');
  });

  it('needs X-Keyplane-Dashboard: 1 on every cookie-authenticated request', async () => {
    const op = (await signIn({ adminToken: h.adminToken })).cookie;
    const cl = (await signIn({ apiKey: a.apiKey })).cookie;
    const cases: Array<[string, string, string]> = [
      ['GET', '/admin/v1/clients', op],
      ['GET', '/dashboard/api/session', op],
      ['GET', '/v1/me', cl],
      ['GET', '/v1/keys', cl],
      ['GET', '/v1/usage', cl],
      ['GET', '/dashboard/api/session', cl],
      ['DELETE', '/dashboard/api/session', cl],
    ];
    for (const [method, path, cookie] of cases) {
      for (const header of [undefined, '0', 'true']) {
        const res = await call(method, path, {
          cookie: `kp_session=${cookie}`,
          headers: header === undefined ? {} : { 'x-keyplane-dashboard': header },
        });
        expect(res.status, `${method} ${path} ${header}`).toBe(403);
        expect(res.body.error.code).toBe('forbidden');
      }
    }
    // The refused sign-out did not sign anyone out.
    expect((await dash('GET', '/v1/me', cl)).status).toBe(200);
  });

  it('gives an operator session exactly the scopes of its admin token', async () => {
    const created = await h.services.adminTokens.create({
      name: 'support desk',
      scopes: ['clients:read'],
      actor: { type: 'system', id: 'test' },
    });
    const { cookie, res } = await signIn({ adminToken: created.token });
    expect(res.body.session).toMatchObject({
      kind: 'operator',
      name: 'support desk',
      scopes: ['clients:read'],
    });
    expect((await dash('GET', '/admin/v1/clients', cookie)).status).toBe(200);
    expect((await dash('GET', `/admin/v1/clients/${a.clientId}`, cookie)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/admin/v1/clients', { name: 'Nope', email: 'nope@example.com' }],
      ['GET', '/admin/v1/audit', undefined],
      ['GET', '/admin/v1/admin-tokens', undefined],
      ['POST', `/admin/v1/clients/${a.clientId}/suspend`, {}],
    ] as const) {
      const r = await dash(method, path, cookie, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error.code).toBe('insufficient_scope');
    }
  });

  it('lets a header credential win over the cookie, and keeps the two kinds apart', async () => {
    const op = (await signIn({ adminToken: h.adminToken })).cookie;
    const cl = (await signIn({ apiKey: a.apiKey })).cookie;
    // An explicit key is what counts, even with A's session cookie alongside.
    const asB = await call('GET', '/v1/me', {
      cookie: `kp_session=${cl}`,
      headers: { ...DASH, 'x-api-key': b.apiKey },
    });
    expect(asB.body.client.id).toBe(b.clientId);
    const badBearer = await call('GET', '/admin/v1/clients', {
      cookie: `kp_session=${op}`,
      headers: { ...DASH, authorization: 'Bearer kpadm_live_nope' },
    });
    expect(badBearer.status).toBe(401);
    const badKey = await call('GET', '/v1/me', {
      cookie: `kp_session=${cl}`,
      headers: { ...DASH, 'x-api-key': '' },
    });
    expect(badKey.status).toBe(401);
    // An operator session is no client key, a client session no admin token.
    expect((await dash('GET', '/v1/me', op)).status).toBe(401);
    expect((await dash('GET', '/admin/v1/clients', cl)).status).toBe(401);
  });

  it('ends access at once when the key is revoked or the client suspended', async () => {
    const t = await keyOf(a, []);
    const { cookie } = await signIn({ apiKey: t.apiKey });
    expect((await dash('GET', '/v1/me', cookie)).status).toBe(200);

    const suspend = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.clientId}/suspend`,
      headers: h.adminHeaders,
    });
    expect(suspend.statusCode, suspend.body).toBe(200);
    for (const path of ['/v1/me', '/dashboard/api/session']) {
      const r = await dash('GET', path, cookie);
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe('client_suspended');
    }
    const suspendedSignIn = await call('POST', '/dashboard/api/session', {
      body: { apiKey: t.apiKey },
    });
    expect(suspendedSignIn.status).toBe(403);
    expect(suspendedSignIn.body.error.code).toBe('client_suspended');
    const reactivate = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.clientId}/reactivate`,
      headers: h.adminHeaders,
    });
    expect(reactivate.statusCode, reactivate.body).toBe(200);
    expect((await dash('GET', '/v1/me', cookie)).status).toBe(200);

    const revoke = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.clientId}/keys/${t.keyId}/revoke`,
      headers: h.adminHeaders,
      payload: {},
    });
    expect(revoke.statusCode, revoke.body).toBe(200);
    for (const path of ['/v1/me', '/v1/keys', '/dashboard/api/session']) {
      const r = await dash('GET', path, cookie);
      expect(r.status, path).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
  });

  it('meters cookie calls and applies the key’s credits, rate limit and IP allowlist', async () => {
    const c = await tenant('Charlie Metered');
    const { cookie } = await signIn({ apiKey: c.apiKey });
    for (let i = 0; i < 3; i++) expect((await dash('GET', '/v1/health', cookie)).status).toBe(200);
    expect((await dash('GET', '/dashboard/api/session', cookie)).status).toBe(200);
    await new Promise((r) => setImmediate(r));
    await h.services.usage.flush();
    // The three client calls, each at the price book's 0.01; sign-in and "who am I" are no calls.
    expect(await storedUsage(h.services.store.db, c.clientId)).toEqual({
      calls: 3,
      costMicros: 30_000,
    });

    // Credits: sign-in is a use of the key (3 → 2), then two calls, then none left.
    const credited = await keyOf(c, [], { credits: 3 });
    const cc = (await signIn({ apiKey: credited.apiKey })).cookie;
    expect((await dash('GET', '/v1/health', cc)).status).toBe(200);
    expect((await dash('GET', '/v1/health', cc)).status).toBe(200);
    const out = await dash('GET', '/v1/health', cc);
    expect(out.status).toBe(429);
    expect(out.body.error.code).toBe('usage_exceeded');
    // Asking who is signed in uses nothing up and still works.
    expect((await dash('GET', '/dashboard/api/session', cc)).status).toBe(200);

    // Rate limit: 2 a minute, the sign-in being the first.
    const limited = await keyOf(c, [], { rateLimit: { limit: 2, windowSeconds: 60 } });
    const lc = (await signIn({ apiKey: limited.apiKey })).cookie;
    expect((await dash('GET', '/v1/health', lc)).status).toBe(200);
    const slow = await call('GET', '/v1/health', {
      cookie: `kp_session=${lc}`,
      headers: DASH,
    });
    expect(slow.status).toBe(429);
    expect(slow.body.error.code).toBe('rate_limited');

    // A key whose allowlist excludes loopback cannot sign in.
    const fenced = await keyOf(c, [], { ipAllowlist: ['10.0.0.0/8'] });
    const refused = await call('POST', '/dashboard/api/session', {
      body: { apiKey: fenced.apiKey },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('ip_not_allowed');
    expect(refused.setCookie).toEqual([]);
  });

  it('ends access at once when the admin token is revoked', async () => {
    const created = await h.services.adminTokens.create({
      name: 'short lived',
      scopes: ['admin'],
      actor: { type: 'system', id: 'test' },
    });
    const { cookie } = await signIn({ adminToken: created.token });
    expect((await dash('GET', '/admin/v1/clients', cookie)).status).toBe(200);
    await h.services.adminTokens.revoke(created.adminToken.id, { type: 'system', id: 'test' });
    for (const path of ['/admin/v1/clients', '/dashboard/api/session']) {
      const r = await dash('GET', path, cookie);
      expect(r.status, path).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
    expect((await sessionRows()).some((r) => r.token_hash === sha256(cookie))).toBe(false);
    expect(
      (await call('POST', '/dashboard/api/session', { body: { adminToken: created.token } }))
        .status,
    ).toBe(401);
  });

  it('signs out: the row is deleted, the cookie cleared, a replayed cookie is 401', async () => {
    for (const credential of [{ adminToken: h.adminToken }, { apiKey: a.apiKey }]) {
      const { cookie } = await signIn(credential);
      const before = (await auditRows('dashboard.sign_out')).length;
      const out = await dash('DELETE', '/dashboard/api/session', cookie);
      expect(out.status).toBe(204);
      expect(out.setCookie).toEqual([CLEARED]);
      expect((await sessionRows()).some((r) => r.token_hash === sha256(cookie))).toBe(false);
      const audited = await auditRows('dashboard.sign_out');
      expect(audited).toHaveLength(before + 1);
      expect(audited.at(-1)!.data).not.toContain(cookie);
      for (const path of ['/dashboard/api/session', '/v1/me', '/admin/v1/clients']) {
        const r = await dash('GET', path, cookie);
        expect(r.status, path).toBe(401);
        expect(r.body.error).toMatchObject({ code: 'unauthorized', requestId: expect.any(String) });
      }
      // Signing out twice, or with no session at all, is still a clean 204.
      expect((await dash('DELETE', '/dashboard/api/session', cookie)).status).toBe(204);
    }
    const bare = await call('DELETE', '/dashboard/api/session');
    expect(bare.status).toBe(204);
    expect(bare.setCookie).toEqual([CLEARED]);
  });

  it('expires sessions after 12 hours (and deletes them when seen)', async () => {
    const op = (await signIn({ adminToken: h.adminToken })).cookie;
    const cl = (await signIn({ apiKey: a.apiKey })).cookie;
    clock.advance(43_200_000 - 1000);
    expect((await dash('GET', '/admin/v1/clients', op)).status).toBe(200);
    expect((await dash('GET', '/v1/me', cl)).status).toBe(200);
    clock.advance(1000);
    for (const [path, cookie] of [
      ['/admin/v1/clients', op],
      ['/v1/me', cl],
      ['/dashboard/api/session', op],
    ] as const) {
      const r = await dash('GET', path, cookie);
      expect(r.status, path).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
    const hashes = (await sessionRows()).map((r) => r.token_hash);
    expect(hashes).not.toContain(sha256(op));
    expect(hashes).not.toContain(sha256(cl));

    // Sessions nobody comes back to are swept: every row left is older than 12 hours now.
    expect((await sessionRows()).length).toBeGreaterThan(0);
    expect(await h.services.dashboard.expire()).toBeGreaterThan(0);
    expect(await sessionRows()).toEqual([]);
    expect(await h.services.dashboard.expire()).toBe(0);
  });

  it("never lets a client session reach another client's keys, usage, invoices or credentials", async () => {
    const { cookie } = await signIn({ apiKey: aWriter.apiKey });
    const missing = (kind: string) => `${kind}_${'0'.repeat(24)}`;
    const pairs: Array<[string, string, string, unknown?]> = [
      ['GET', `/v1/keys/${b.keyId}/usage`, `/v1/keys/${missing('key')}/usage`],
      ['POST', `/v1/keys/${b.keyId}/revoke`, `/v1/keys/${missing('key')}/revoke`, {}],
      ['POST', `/v1/keys/${b.keyId}/roll`, `/v1/keys/${missing('key')}/roll`, {}],
      ['GET', `/v1/invoices/${bInvoiceId}`, `/v1/invoices/${missing('inv')}`],
      ['GET', `/v1/invoices/${bInvoiceId}/html`, `/v1/invoices/${missing('inv')}/html`],
      ['GET', `/v1/credentials/${bCredentialId}`, `/v1/credentials/${missing('cred')}`],
      [
        'PATCH',
        `/v1/credentials/${bCredentialId}`,
        `/v1/credentials/${missing('cred')}`,
        { credentialName: 'stolen' },
      ],
      ['DELETE', `/v1/credentials/${bCredentialId}`, `/v1/credentials/${missing('cred')}`],
      [
        'POST',
        `/v1/credentials/${bCredentialId}/verify`,
        `/v1/credentials/${missing('cred')}/verify`,
      ],
      ['GET', `/v1/credentials/${bCredentialId}/audit`, `/v1/credentials/${missing('cred')}/audit`],
    ];
    const shape = (r: Answer) =>
      JSON.stringify({ status: r.status, code: r.body.error?.code, message: r.body.error?.message })
        .replaceAll(bCredentialId, 'ID')
        .replaceAll(bInvoiceId, 'ID')
        .replaceAll(b.keyId, 'ID')
        .replace(/(cred|inv|key)_0{24}/g, 'ID');
    for (const [method, theirs, nobodys, body] of pairs) {
      const other = await dash(method, theirs, cookie, body);
      const none = await dash(method, nobodys, cookie, body);
      expect(other.status, `${method} ${theirs} ${other.text}`).toBe(404);
      expect(shape(other), theirs).toBe(shape(none));
      expect(other.text).not.toContain('Bravo');
    }
    const keys = await dash('GET', '/v1/keys', cookie);
    expect(keys.body.data.map((k: { clientId: string }) => k.clientId)).not.toContain(b.clientId);
    const invoices = await dash('GET', '/v1/invoices', cookie);
    expect(invoices.status).toBe(200);
    expect(invoices.text).not.toContain(bInvoiceId);
    const creds = await dash('GET', '/v1/credentials', cookie);
    expect(creds.text).not.toContain(bCredentialId);

    // B's things are untouched.
    const bKey = await h.app.inject({
      method: 'GET',
      url: '/v1/me',
      headers: { 'x-api-key': b.apiKey },
    });
    expect(bKey.statusCode).toBe(200);
    const bCred = await h.app.inject({
      method: 'GET',
      url: `/v1/credentials/${bCredentialId}`,
      headers: { 'x-api-key': b.apiKey },
    });
    expect(bCred.json()).toMatchObject({ name: 'Bravo AWS', isActive: true });
  });

  it('answers 401 in the envelope for any wrong or garbage cookie, never 500', async () => {
    const valid = (await signIn({ apiKey: a.apiKey })).cookie;
    const garbage = [
      'x'.repeat(10_240),
      'A'.repeat(43),
      `${valid.slice(0, -1)}${valid.endsWith('A') ? 'B' : 'A'}`,
      `${valid}=`,
      '%00%00',
      '',
      '"quoted"',
      `${valid}; kp_session=${valid}`,
      `${valid}; kp_session=${'B'.repeat(43)}`,
    ];
    for (const value of garbage) {
      for (const path of ['/v1/me', '/admin/v1/clients', '/dashboard/api/session']) {
        const r = await call('GET', path, { cookie: `a=b; kp_session=${value}`, headers: DASH });
        expect(r.status, `${path} ${value.slice(0, 60)}`).toBe(401);
        expect(r.body.error).toMatchObject({ code: 'unauthorized', requestId: expect.any(String) });
      }
    }
    // Bytes fetch will not send: unicode and NUL, written on the socket by hand.
    for (const value of ['ключ-☃-🔑', `${valid}\u0000`, '\u00ff'.repeat(50)]) {
      const raw = await rawGet(base, '/v1/me', `kp_session=${value}`);
      expect(raw.status, JSON.stringify(value)).toBeGreaterThanOrEqual(400);
      expect(raw.status).toBeLessThan(500);
      expect(JSON.parse(raw.body).error.code).toMatch(/^(unauthorized|bad_request)$/);
      const injected = await h.app.inject({
        method: 'GET',
        url: '/v1/me',
        headers: { cookie: `kp_session=${value}`, ...DASH },
      });
      expect(injected.statusCode).toBe(401);
      expect(injected.json().error.code).toBe('unauthorized');
    }
    // The valid session survived all of it.
    expect((await dash('GET', '/v1/me', valid)).status).toBe(200);
  });
});

/** A GET with a Cookie header of raw UTF-8 bytes, which fetch refuses to send. */
function rawGet(
  base: string,
  path: string,
  cookie: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(
      Buffer.concat([
        Buffer.from(
          `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nx-keyplane-dashboard: 1\r\nCookie: `,
        ),
        Buffer.from(cookie, 'utf8'),
        Buffer.from('\r\nConnection: close\r\n\r\n'),
      ]),
    );
  });
}

describe.each(ENGINES)('dashboard session cookie over https on %s', (engine) => {
  it('is Secure when the request came over https (x-forwarded-proto, only with trustProxy)', async () => {
    for (const trust of [true, false]) {
      const h = await createHarness(engine, { env: { KEYPLANE_TRUST_PROXY: String(trust) } });
      try {
        const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
        for (const proto of ['https', 'http']) {
          const res = await fetch(`${base}/dashboard/api/session`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-proto': proto },
            body: JSON.stringify({ adminToken: h.adminToken }),
          });
          expect(res.status).toBe(200);
          const [cookie] = res.headers.getSetCookie();
          expect(cookie!.endsWith('; Secure'), `${trust} ${proto}`).toBe(
            trust && proto === 'https',
          );
          const out = await fetch(`${base}/dashboard/api/session`, {
            method: 'DELETE',
            headers: {
              'x-forwarded-proto': proto,
              ...DASH,
              cookie: cookie!.split(';')[0]!,
            },
          });
          expect(out.status).toBe(204);
          expect(out.headers.getSetCookie()[0]!.endsWith('; Secure')).toBe(
            trust && proto === 'https',
          );
        }
      } finally {
        await h.close();
      }
    }
  });
});

describe('expired dashboard sessions in a running server', () => {
  it('are deleted on a timer, with nobody signing in', async () => {
    const dir = tempDir('kp-sweep-');
    const config = loadConfig(
      {
        KEYPLANE_DATA_DIR: dir,
        KEYPLANE_DATABASE_URL: `sqlite:${join(dir, 'keyplane.db')}`,
        KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
        KEYPLANE_HOST: '127.0.0.1',
        KEYPLANE_PORT: '0',
      },
      dir,
    );
    const logs = logCapture();
    const server = await startServer(
      config,
      createLogger({ level: 'info', destination: logs.stream }),
      {
        announce: () => undefined,
        sessionSweepMs: 50,
      },
    );
    try {
      const db = server.services.store.db;
      const row = (id: string, expiresAt: string) => ({
        id,
        token_hash: id.padEnd(64, '0'),
        kind: 'operator' as const,
        admin_token_id: 'adm_x',
        key_hash: null,
        client_id: null,
        key_id: null,
        created_at: '2026-01-01T00:00:00.000Z',
        expires_at: expiresAt,
        last_seen_at: '2026-01-01T00:00:00.000Z',
      });
      await db
        .insertInto('dashboard_sessions')
        .values([
          row('dsess_old', '2026-01-01T12:00:00.000Z'),
          row('dsess_live', '2999-01-01T00:00:00.000Z'),
        ])
        .execute();
      const ids = async () =>
        (await db.selectFrom('dashboard_sessions').select('id').execute()).map((r) => r.id).sort();
      const deadline = Date.now() + 5000;
      while ((await ids()).includes('dsess_old') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(await ids()).toEqual(['dsess_live']);
      expect(logs.lines.some((l) => l.includes('expired dashboard sessions deleted'))).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
