import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

describe.each(ENGINES)('HTTP spine on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  it('answers /healthz with security headers and a request id', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(res.headers['x-request-id']).toMatch(/^req_[0-9a-f]{24}$/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('answers /readyz with the storage check', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ready', checks: { storage: 'ok' } });
  });

  it('answers 503 on /readyz when a dependency is down', async () => {
    h.services.readiness.fake = async () => {
      throw new Error('connection refused');
    };
    try {
      const res = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        status: 'not_ready',
        checks: { storage: 'ok', fake: 'down' },
      });
    } finally {
      delete h.services.readiness.fake;
    }
  });

  it('answers unknown routes with 404 in the envelope', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/nope/really?x=1' });
    expect(res.statusCode).toBe(404);
    const body = res.json();
    expect(body.error.code).toBe('not_found');
    expect(body.error.requestId).toBe(res.headers['x-request-id']);
  });

  it('answers invalid JSON with 400 invalid_json', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: { ...h.adminHeaders, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_json');
  });

  it('answers bodies over 1 MiB with 413', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: { ...h.adminHeaders, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });

  it('answers schema violations with 400 naming the field', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: 42 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'validation_failed' });
    expect(res.json().error.message).toContain('name');
  });

  it('answers an unsupported content type with 415', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: { ...h.adminHeaders, 'content-type': 'application/x-weird' },
      payload: 'name=x',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
  });

  it('guards /metrics with an admin token', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const ok = await h.app.inject({ method: 'GET', url: '/metrics', headers: h.adminHeaders });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('keyplane_http_requests_total');
  });

  it('publishes OpenAPI 3.1 and Swagger UI', async () => {
    const spec = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/admin/v1/admin-tokens']),
    );
    // Every API operation names how to authenticate: an admin token on /admin/v1, a key on
    // /v1, and on both the dashboard's session cookie (which requireAdmin and requireClient
    // accept in place of the header).
    const ops = Object.entries(
      spec.paths as Record<string, Record<string, { security?: Array<Record<string, unknown>> }>>,
    ).flatMap(([path, methods]) => Object.values(methods).map((op) => ({ path, op })));
    const schemes = (op: { security?: Array<Record<string, unknown>> }) =>
      (op.security ?? []).flatMap((s) => Object.keys(s)).sort();
    const admin = ops.filter((o) => o.path.startsWith('/admin/v1/'));
    expect(admin.length).toBeGreaterThan(30);
    for (const o of admin) expect(schemes(o.op), o.path).toEqual(['bearer', 'dashboardSession']);
    const client = ops.filter((o) => o.path.startsWith('/v1/'));
    expect(client.length).toBeGreaterThan(10);
    // (Secret scanning partners authenticate by their own signature or secret: issue 17.)
    const partner = ['githubSignature', 'gitlabToken'];
    for (const o of client) {
      const own = schemes(o.op);
      if (own.length === 1 && partner.includes(own[0]!)) continue;
      expect(own, o.path).toContain('dashboardSession');
    }
    const docs = await h.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(docs.statusCode);
  });

  it('logs one line per request with route, status and duration', async () => {
    h.logs.lines.length = 0;
    await h.app.inject({ method: 'GET', url: '/healthz' });
    const lines = h.logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ route: '/healthz', status: 200, method: 'GET' });
    expect(typeof lines[0].durationMs).toBe('number');
  });
});
