import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
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
    // Its own server and clock: the sampling window is a minute of the injected clock.
    const clock = createManualClock(new Date('2025-10-02T10:00:00.000Z'));
    const own = await createHarness(engine, { clock });
    try {
      const probe = 'kp_live_' + 'Z'.repeat(49);
      const fail = (ip: string) =>
        own.app.inject({
          method: 'GET',
          url: '/v1/health',
          headers: { 'x-api-key': probe },
          remoteAddress: ip,
        });
      for (let i = 0; i < 30; i++) expect((await fail('198.51.100.1')).statusCode).toBe(401);
      for (let i = 0; i < 5; i++) await fail('198.51.100.2');
      clock.advance(59_000); // still the first minute for .1
      await fail('198.51.100.1');
      clock.advance(1_000); // a minute after .1's first entry: sampled again
      for (let i = 0; i < 10; i++) await fail('198.51.100.1');
      const metrics = await own.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: own.adminHeaders,
      });
      expect(metrics.body).toMatch(/keyplane_auth_failures_total\{outcome="MALFORMED"\} 46\b/);
      // A graceful stop writes the entries still in flight (they are not awaited by the 401s).
      await own.services.keys.close();
      const audit = await own.services.audit.list({ action: 'auth.failed', limit: 1000 });
      // Exactly one per (ip, outcome) and minute: .1 at 10:00:00 and 10:01:00, .2 at 10:00:00.
      expect(
        audit.data
          .map((e) => [e.ip, e.createdAt])
          .sort((a, b) => String(a).localeCompare(String(b))),
      ).toEqual([
        ['198.51.100.1', '2025-10-02T10:00:00.000Z'],
        ['198.51.100.1', '2025-10-02T10:01:00.000Z'],
        ['198.51.100.2', '2025-10-02T10:00:00.000Z'],
      ]);
      expect(audit.data.every((e) => e.data.sampled === true)).toBe(true);
      expect(JSON.stringify(audit.data)).not.toContain(probe);
      expect(own.logs.text()).not.toContain(probe);
    } finally {
      await own.close();
    }
  });
});
