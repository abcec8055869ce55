import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { ENGINES } from './support/stores.ts';

describe.each(ENGINES)('clients and keys on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  async function createClient(name = 'Acme Corporation', email = 'security@acme.com') {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name, email },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as {
      client: { id: string; name: string };
      key: { id: string; start: string };
      apiKey: string;
    };
  }

  const get = (url: string, key: string, extra: Record<string, string> = {}) =>
    h.app.inject({ method: 'GET', url, headers: { 'x-api-key': key, ...extra } });

  it('creates a client with a key shown once, and the key checks in on /v1/health', async () => {
    const c = await createClient();
    expect(c.apiKey).toMatch(/^kp_live_[0-9A-Za-z]{49}$/);
    expect(c.key.start).toBe(c.apiKey.slice(0, 12));
    expect(JSON.stringify(c.key)).not.toContain(c.apiKey);
    const res = await get('/v1/health', c.apiKey);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      client: { id: c.client.id, name: 'Acme Corporation' },
    });
    const bearer = await h.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { authorization: `Bearer ${c.apiKey}` },
    });
    expect(bearer.statusCode).toBe(200);
    // Never stored in clear.
    const row = await h.services.store.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', c.key.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(c.apiKey);
  });

  it('answers 401 for missing, malformed and unknown keys', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/v1/health' })).statusCode).toBe(401);
    expect((await get('/v1/health', 'nope')).json().error.code).toBe('unauthorized');
    const c = await createClient('Other', 'o@example.com');
    const wrong =
      c.apiKey.slice(0, -7) + (c.apiKey.at(-7) === 'a' ? 'b' : 'a') + c.apiKey.slice(-6);
    expect((await get('/v1/health', wrong)).statusCode).toBe(401);
  });

  it('suspends and reactivates a client: all keys stop and start at once', async () => {
    const c = await createClient('Susp', 's@example.com');
    const k2 = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { name: 'second' },
    });
    expect(k2.statusCode).toBe(201);
    const second = k2.json().apiKey as string;
    expect((await get('/v1/health', second)).statusCode).toBe(200);
    const s = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/suspend`,
      headers: h.adminHeaders,
    });
    expect(s.json(), s.body).toHaveProperty('client.status', 'suspended');
    for (const k of [c.apiKey, second]) {
      const r = await get('/v1/health', k);
      expect(r.statusCode).toBe(403);
      expect(r.json().error.code).toBe('client_suspended');
    }
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/reactivate`,
      headers: h.adminHeaders,
    });
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(200);
  });

  it('revokes with a reason, reactivates, and deletes keys', async () => {
    const c = await createClient('Rev', 'r@example.com');
    const base = `/admin/v1/clients/${c.client.id}/keys/${c.key.id}`;
    const r = await h.app.inject({
      method: 'POST',
      url: `${base}/revoke`,
      headers: h.adminHeaders,
      payload: { reason: 'stopped paying' },
    });
    expect(r.json().key).toMatchObject({ status: 'revoked', revokedReason: 'stopped paying' });
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(401);
    await h.app.inject({ method: 'POST', url: `${base}/reactivate`, headers: h.adminHeaders });
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(200);
    const d = await h.app.inject({ method: 'DELETE', url: base, headers: h.adminHeaders });
    expect(d.statusCode).toBe(204);
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(401);
  });

  it('rolls a key with a grace period, and immediately with 0', async () => {
    const c = await createClient('Roll', 'roll@example.com');
    const r = await h.app.inject({
      method: 'POST',
      url: `/v1/keys/${c.key.id}/roll`,
      headers: { 'x-api-key': c.apiKey },
      payload: { gracePeriodSeconds: 3600 },
    });
    expect(r.statusCode).toBe(201);
    const fresh = r.json().apiKey as string;
    expect((await get('/v1/health', fresh)).statusCode).toBe(200);
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(200);
    expect(r.json().rolled.expiresAt).not.toBeNull();
    const r0 = await h.app.inject({
      method: 'POST',
      url: `/v1/keys/${r.json().key.id}/roll`,
      headers: { 'x-api-key': fresh },
      payload: { gracePeriodSeconds: 0 },
    });
    expect(r0.statusCode).toBe(201);
    expect((await get('/v1/health', fresh)).statusCode).toBe(401);
    expect((await get('/v1/health', r0.json().apiKey)).statusCode).toBe(200);
  });

  it('enforces scopes, IP allowlists and expiry', async () => {
    const c = await createClient('Scoped', 'sc@example.com');
    const mk = async (payload: object) => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/admin/v1/clients/${c.client.id}/keys`,
        headers: h.adminHeaders,
        payload,
      });
      expect(res.statusCode).toBe(201);
      return res.json().apiKey as string;
    };
    const readOnly = await mk({ scopes: ['usage:read'] });
    const denied = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { 'x-api-key': readOnly },
      payload: {},
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('insufficient_scope');
    const writer = await mk({ scopes: ['keys:write'] });
    const escalate = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { 'x-api-key': writer },
      payload: { scopes: ['*'] },
    });
    expect(escalate.statusCode).toBe(403);
    const ok = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { 'x-api-key': writer },
      payload: { scopes: ['keys:write'], environment: 'test' },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().apiKey).toMatch(/^kp_test_/);

    const v4 = await mk({ ipAllowlist: ['10.0.0.0/8'] });
    const blocked = await get('/v1/health', v4);
    expect(blocked.statusCode).toBe(403);
    expect(blocked.json().error.code).toBe('ip_not_allowed');
    const local = await mk({ ipAllowlist: ['127.0.0.1', '::1/128'] });
    expect((await get('/v1/health', local)).statusCode).toBe(200);

    // A key is never born expired (issue 21: 400); expiry itself runs on an injected clock in
    // test/keys-roll-credits.test.ts.
    const born = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { expiresAt: new Date(Date.now() - 1000).toISOString() },
    });
    expect(born.statusCode).toBe(400);
  });

  it('spends credits atomically and answers 429 at zero', async () => {
    const c = await createClient('Credits', 'cr@example.com');
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { credits: 5 },
    });
    const key = res.json().apiKey as string;
    const results = await Promise.all(Array.from({ length: 12 }, () => get('/v1/health', key)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(5);
    const refused = results.filter((r) => r.statusCode === 429);
    expect(refused).toHaveLength(7);
    expect(refused[0]!.json().error.code).toBe('usage_exceeded');
    expect(refused[0]!.headers['retry-after']).toBeDefined();
  });

  it('refuses calls without credits before the rate limit, with Retry-After at the next refill', async () => {
    // Its own harness on a manual clock: the next refill is a known midnight, not the real one.
    const clock = createManualClock(new Date('2026-03-10T15:00:00.000Z'));
    const own = await createHarness(engine, { clock });
    try {
      const made = await own.app.inject({
        method: 'POST',
        url: '/admin/v1/clients',
        headers: own.adminHeaders,
        payload: { name: 'Refill', email: 'refill@example.com' },
      });
      const res = await own.app.inject({
        method: 'POST',
        url: `/admin/v1/clients/${made.json().client.id}/keys`,
        headers: own.adminHeaders,
        payload: {
          credits: 1,
          refill: { interval: 'daily', amount: 1 },
          rateLimit: { limit: 3, windowSeconds: 3600 },
        },
      });
      const key = res.json().apiKey as string;
      const call = () =>
        own.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': key } });
      const codes: string[] = [];
      let last;
      for (let i = 0; i < 5; i++) {
        last = await call();
        codes.push(last.statusCode === 200 ? 'ok' : last.json().error.code);
      }
      // A client retrying on usage_exceeded does not fill its rate-limit window too.
      expect(codes).toEqual([
        'ok',
        'usage_exceeded',
        'usage_exceeded',
        'usage_exceeded',
        'usage_exceeded',
      ]);
      // 15:00 → the refill at 00:00 UTC is 9 h away.
      expect(Number(last!.headers['retry-after'])).toBe(9 * 3600);
      clock.set(new Date('2026-03-11T00:00:01.000Z'));
      expect((await call()).statusCode).toBe(200);
      expect((await call()).json().error.code).toBe('usage_exceeded');
    } finally {
      await own.close();
    }
  });

  it('refuses malformed key input at both HTTP faces with the schema’s message (400)', async () => {
    const c = await createClient('Shapes Ltd', 'shapes@example.com');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ipAllowlist: ['300.1.1.1'] }, 'invalid IP or CIDR "300.1.1.1"'],
      [{ scopes: ['bad scope'] }, 'invalid scope(s): bad scope'],
      [{ refill: { interval: 'daily', amount: 1 } }, 'refill needs credits'],
      [{ expiresAt: 'next tuesday' }, 'expiresAt must be an ISO-8601 time'],
    ];
    for (const [payload, message] of cases) {
      for (const [url, headers] of [
        [`/admin/v1/clients/${c.client.id}/keys`, h.adminHeaders],
        ['/v1/keys', { 'x-api-key': c.apiKey }],
      ] as const) {
        const res = await h.app.inject({ method: 'POST', url, headers, payload });
        expect(res.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(400);
        expect(res.json().error.code).toBe('validation_failed');
        expect(res.json().error.message).toContain(message);
      }
    }
    // Nothing was issued: only the first key exists.
    expect((await h.services.keys.list(c.client.id)).data).toHaveLength(1);
  });

  it('verifies keys for services that check them themselves (always 200)', async () => {
    const c = await createClient('Verify', 'v@example.com');
    const ok = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/verify',
      headers: h.adminHeaders,
      payload: { key: c.apiKey },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({
      valid: true,
      code: 'VALID',
      clientId: c.client.id,
      keyId: c.key.id,
      environment: 'live',
    });
    const bad = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/verify',
      headers: h.adminHeaders,
      payload: { key: 'garbage' },
    });
    expect(bad.json()).toMatchObject({ valid: false, code: 'MALFORMED' });
  });

  it('deletes a client permanently: keys destroyed, PII scrubbed, tombstone kept', async () => {
    const c = await createClient('Gone Inc', 'gone@example.com');
    const d = await h.app.inject({
      method: 'DELETE',
      url: `/admin/v1/clients/${c.client.id}`,
      headers: h.adminHeaders,
    });
    expect(d.statusCode).toBe(200);
    expect(d.json().client).toMatchObject({ status: 'deleted', email: null });
    expect(d.json().client.name).not.toContain('Gone');
    expect((await get('/v1/health', c.apiKey)).statusCode).toBe(401);
    const keys = await h.services.store.db
      .selectFrom('api_keys')
      .select('id')
      .where('client_id', '=', c.client.id)
      .execute();
    expect(keys).toHaveLength(0);
    const again = await h.app.inject({
      method: 'DELETE',
      url: `/admin/v1/clients/${c.client.id}`,
      headers: h.adminHeaders,
    });
    expect(again.statusCode).toBe(404);
  });

  it('shows /v1/me and lists own keys only', async () => {
    const a = await createClient('MeA', 'a@example.com');
    const b = await createClient('MeB', 'b@example.com');
    const me = await get('/v1/me', a.apiKey);
    expect(me.json()).toMatchObject({ client: { id: a.client.id }, key: { id: a.key.id } });
    const list = await get('/v1/keys', a.apiKey);
    expect(list.json().data.map((k: { clientId: string }) => k.clientId)).toEqual([a.client.id]);
    const other = await get(`/v1/keys/${b.key.id}`, a.apiKey);
    expect(other.statusCode).toBe(404);
  });
  it('searches clients by name, email, id or tier, ignoring case, wildcards taken literally', async () => {
    const tag = `zq${Math.random().toString(36).slice(2, 8)}`;
    const a = await createClient(`${tag} Alpha 100%`, `billing@${tag}-alpha.example`);
    const b = await createClient(`${tag} Beta 1000`, `ops@${tag}-beta.example`);
    const c = await createClient(`${tag} Gamma_x`, `ops@${tag}-gamma.example`);
    const names = async (query: string) => {
      const res = await h.app.inject({
        method: 'GET',
        url: `/admin/v1/clients?${query}`,
        headers: h.adminHeaders,
      });
      expect(res.statusCode).toBe(200);
      const page = res.json() as { data: Array<{ name: string }>; nextCursor: string | null };
      return { names: page.data.map((x) => x.name).sort(), next: page.nextCursor };
    };
    const q = (text: string) => `q=${encodeURIComponent(text)}`;
    const all = [a, b, c].map((x) => x.client.name).sort();
    expect((await names(q(tag.toUpperCase()))).names).toEqual(all);
    expect((await names(q(`${tag} alpha`))).names).toEqual([a.client.name]);
    // % and _ are characters to find, not LIKE wildcards.
    expect((await names(q(`${tag} Alpha 100%`))).names).toEqual([a.client.name]);
    expect((await names(q(`${tag} % 1000`))).names).toEqual([]);
    expect((await names(q(`${tag} Gamma_`))).names).toEqual([c.client.name]);
    expect((await names(q(`${tag} Gamma_y`))).names).toEqual([]);
    // Email, id and tier.
    expect((await names(q(`@${tag}-BETA.example`))).names).toEqual([b.client.name]);
    expect((await names(q(b.client.id))).names).toEqual([b.client.name]);
    const tier = await h.app.inject({
      method: 'PATCH',
      url: `/admin/v1/clients/${c.client.id}`,
      headers: h.adminHeaders,
      payload: { tier: `${tag}gold` },
    });
    expect(tier.statusCode).toBe(200);
    expect((await names(q(`${tag}GOLD`))).names).toEqual([c.client.name]);
    // With a status filter, and page by page.
    const suspend = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.client.id}/suspend`,
      headers: h.adminHeaders,
    });
    expect(suspend.statusCode).toBe(200);
    expect((await names(`${q(tag)}&status=suspended`)).names).toEqual([a.client.name]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await names(`${q(tag)}&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.names);
      cursor = page.next;
    } while (cursor);
    expect(seen.sort()).toEqual(all);
    // The CLI's clients list --search, on the same store.
    const cli = await runKeyplaneInProcess(
      ['clients', 'list', '--search', `${tag} GAMMA`, '--json'],
      {
        env: { KEYPLANE_DATABASE_URL: h.database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY },
      },
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(
      (JSON.parse(cli.stdout) as { data: Array<{ id: string }> }).data.map((x) => x.id),
    ).toEqual([c.client.id]);
  }, 60_000);

  it('lists clients with their keys, active and revoked, in one request (include=keys)', async () => {
    const a = await createClient('ListA', 'lista@example.com');
    const b = await createClient('ListB', 'listb@example.com');
    const extra = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.client.id}/keys`,
      headers: h.adminHeaders,
      payload: { name: 'second' },
    });
    expect(extra.statusCode).toBe(201);
    const revoke = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${a.client.id}/keys/${a.key.id}/revoke`,
      headers: h.adminHeaders,
      payload: { reason: 'rotated' },
    });
    expect(revoke.statusCode).toBe(200);

    const res = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/clients?include=keys&limit=1000',
      headers: h.adminHeaders,
    });
    expect(res.statusCode).toBe(200);
    type Row = { id: string; keys: Array<{ id: string; clientId: string; status: string }> };
    const rows = res.json().data as Row[];
    const rowA = rows.find((c) => c.id === a.client.id)!;
    const rowB = rows.find((c) => c.id === b.client.id)!;
    expect(rowA.keys.map((k) => [k.id, k.status]).sort()).toEqual(
      [
        [a.key.id, 'revoked'],
        [extra.json().key.id, 'active'],
      ].sort(),
    );
    expect(rowB.keys.map((k) => k.id)).toEqual([b.key.id]);
    // Every embedded key belongs to the client it is listed under; no secret or hash is shown.
    for (const c of rows) for (const k of c.keys) expect(k.clientId).toBe(c.id);
    expect(res.body).not.toContain(a.apiKey);
    expect(res.body).not.toMatch(/key_hash|keyHash/);

    // Without include, no keys; with include, keys:read is needed as well.
    const plain = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
    });
    expect(plain.json().data[0]).not.toHaveProperty('keys');
    const minted = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: 'clients-only', scopes: ['clients:read'] },
    });
    const readOnly = { authorization: `Bearer ${minted.json().token}` };
    const denied = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/clients?include=keys',
      headers: readOnly,
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('insufficient_scope');
    const allowed = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/clients',
      headers: readOnly,
    });
    expect(allowed.statusCode).toBe(200);
  });
});
