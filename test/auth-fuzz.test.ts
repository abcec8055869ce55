import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/**
 * Garbage in the auth headers and bodies of client routes: always a 4xx in the envelope, never
 * a 500, never a hang; failures are counted in metrics and audited (sampled, never the key).
 */
describe.each(ENGINES)('auth fuzz on %s', (engine) => {
  let h: Harness;
  let key: string;
  let keyId: string;
  beforeAll(async () => {
    h = await createHarness(engine);
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Fuzz', email: 'fuzz@example.com' },
    });
    key = res.json().apiKey;
    keyId = res.json().key.id;
  });
  afterAll(async () => h?.close());

  const junkKeys = (): string[] => [
    '',
    ' ',
    'x'.repeat(10_240),
    'kp_live_' + 'A'.repeat(49),
    'kp_test_' + 'é'.repeat(49),
    'kp_live_\u0000' + 'a'.repeat(48),
    '🔑'.repeat(30),
    'kpadm_live_' + 'a'.repeat(49),
    'Bearer Bearer',
    '%00%00',
    randomBytes(64).toString('base64'),
  ];

  it('answers junk keys in X-API-Key and Authorization with 401 in the envelope', async () => {
    for (const junk of junkKeys()) {
      for (const headers of [
        { 'x-api-key': junk },
        { authorization: `Bearer ${junk}` },
        { authorization: junk },
      ]) {
        let res;
        try {
          res = await h.app.inject({ method: 'GET', url: '/v1/health', headers });
        } catch {
          continue; // header values Node itself refuses never reach a server
        }
        expect(res.statusCode, JSON.stringify(headers).slice(0, 80)).toBe(401);
        expect(res.json().error.code).toBe('unauthorized');
        expect(res.json().error.requestId).toBeTruthy();
      }
    }
  });

  it('treats a duplicated X-API-Key header as no valid key', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { 'x-api-key': [key, key] as unknown as string },
    });
    expect(res.statusCode).toBe(401);
  });

  it('answers wrong body types on key routes with 400, never 500', async () => {
    const bodies: unknown[] = [
      { scopes: 'keys:write' },
      { scopes: [1, 2] },
      { ipAllowlist: ['not-an-ip'] },
      { ipAllowlist: ['10.0.0.0/99'] },
      { expiresAt: 'tomorrow' },
      { expiresInSeconds: -5 },
      { rateLimit: { limit: 0, windowSeconds: 1 } },
      { credits: 1.5 },
      { refill: { interval: 'daily', amount: 10 } },
      { meta: { big: 'x'.repeat(10_000) } },
      { environment: 'prod' },
      { name: 'x'.repeat(5000) },
      { unknown: true },
      [],
      'string',
      null,
    ];
    for (const body of bodies) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { 'x-api-key': key, 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      expect(
        res.statusCode,
        `${JSON.stringify(body).slice(0, 60)} → ${res.body}`,
      ).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.json().error.code).toBeTruthy();
    }
  });

  it('answers odd ids and paths with 404 or 400, never 500', async () => {
    for (const id of [
      '%00',
      'x'.repeat(300),
      '../../etc/passwd',
      "' OR 1=1 --",
      '🔑',
      keyId + 'x',
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: `/v1/keys/${encodeURIComponent(id)}/revoke`,
        headers: { 'x-api-key': key },
        payload: {},
      });
      expect([400, 404]).toContain(res.statusCode);
    }
  });

  it('counts failures in metrics and audits them sampled, never with the key', async () => {
    const probe = 'kp_live_' + 'Z'.repeat(49);
    for (let i = 0; i < 30; i++) {
      await h.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': probe } });
    }
    const metrics = await h.app.inject({ method: 'GET', url: '/metrics', headers: h.adminHeaders });
    expect(metrics.body).toMatch(/keyplane_auth_failures_total\{outcome="MALFORMED"\} \d+/);
    const audit = await h.services.audit.list({ action: 'auth.failed', limit: 1000 });
    expect(audit.data.length).toBeGreaterThan(0);
    expect(audit.data.length).toBeLessThan(30);
    expect(JSON.stringify(audit.data)).not.toContain(probe);
    expect(JSON.stringify(audit.data)).not.toContain(key);
    expect(h.logs.text()).not.toContain(probe);
    expect(h.logs.text()).not.toContain(key);
  });
});
