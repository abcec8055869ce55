import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

const actor = { type: 'system' as const, id: 'test' };
const DAY = 86_400_000;

/**
 * The README's CLI table, command by command, run in-process against the database of a running
 * (in-process) server: what the CLI writes, the server reads.
 */
describe.each(ENGINES)('README promises: the CLI on %s', (engine) => {
  let h: Harness;
  let smtp: TestSmtpServer;
  let env: Record<string, string>;
  const cli = async (args: string[], input?: string) => {
    const r = await runKeyplaneInProcess(args, { env, input });
    return { ...r, json: () => JSON.parse(r.stdout) };
  };

  beforeEach(async () => {
    smtp = await startSmtpServer();
    const smtpEnv = { KEYPLANE_SMTP_URL: smtp.url, KEYPLANE_MAIL_FROM: 'billing@op.example' };
    h = await createHarness(engine, {
      env: smtpEnv,
      file: {
        pricing: { 'GET /v1/health': '0.01', 'POST /api/alert': '0.10', '*': 0 },
        providers: { gemini: { policy: 'platform' } },
        // The CLI reads this file: a failing send's tries wait 5 ms, then 10 ms (default 0.5 s, 1 s).
        billing: { sendBackoffMs: 5 },
      },
    });
    env = {
      KEYPLANE_DATABASE_URL: h.config.databaseUrl,
      KEYPLANE_DATA_DIR: h.database.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: join(h.database.dir, 'keyplane.config.json'),
      ...smtpEnv,
    };
  });
  afterEach(async () => {
    await h?.close();
    await smtp?.close();
  });

  /** The server's answer for a key, once a CLI change has reached its cache (within 1 s). */
  const serverSees = (apiKey: string, valid: boolean) =>
    waitFor(
      async () => (await h.services.keys.verify(apiKey)).valid === valid,
      `the server to see the key ${valid ? 'valid' : 'refused'}`,
    );

  const newClient = async (name = 'Acme') =>
    (await h.services.clients.create({ name, email: `${name.toLowerCase()}@acme.example` }, actor))
      .client;

  it('keys create parses --expires-in 90d, --rate-limit 100/60s, --credits and --refill monthly:N', async () => {
    const client = await newClient();
    const before = Date.now();
    const r = await cli([
      'keys',
      'create',
      '--client',
      client.id,
      '--name',
      'ci',
      '--expires-in',
      '90d',
      '--rate-limit',
      '100/60s',
      '--credits',
      '2',
      '--refill',
      'monthly:1000',
      '--ip',
      '203.0.113.0/24',
      '--scopes',
      'usage:read',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { key, apiKey } = r.json();
    const expires = Date.parse(key.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 90 * DAY);
    expect(expires).toBeLessThanOrEqual(Date.now() + 90 * DAY);
    expect(key).toMatchObject({
      name: 'ci',
      rateLimit: { limit: 100, windowSeconds: 60 },
      credits: { remaining: 2, refill: { interval: 'monthly', amount: 1000 } },
      ipAllowlist: ['203.0.113.0/24'],
      scopes: ['usage:read'],
    });
    // The server honours what the CLI stored: the allowlist, then the credits.
    expect((await h.services.keys.verify(apiKey, { ip: '198.51.100.1' })).code).toBe(
      'IP_NOT_ALLOWED',
    );
    const ok = await h.services.keys.verify(apiKey, { ip: '203.0.113.9' });
    expect(ok).toMatchObject({ valid: true, remaining: 1 });

    for (const [flag, value, message] of [
      ['--expires-in', '90x', /--expires-in/],
      ['--rate-limit', '100', /rate/],
      ['--rate-limit', '0/60s', /rate|limit/],
      ['--refill', 'weekly:5', /--refill must be daily:N or monthly:N/],
      ['--credits', '1.5', /--credits/],
    ] as const) {
      const bad = await cli(['keys', 'create', '--client', client.id, flag, value]);
      expect(bad.code, `${flag} ${value}: ${bad.stderr}`).toBe(1);
      expect(bad.stderr).toMatch(message);
    }
    expect((await h.services.keys.list(client.id)).data).toHaveLength(2); // first key + ci
  });

  it('keys list, revoke, reactivate, roll --grace 0 and delete --yes', async () => {
    const client = await newClient();
    const made = (await cli(['keys', 'create', '--client', client.id, '--json'])).json();
    const listed = await cli(['keys', 'list', '--client', client.id, '--json']);
    expect(listed.json().data.map((k: { id: string }) => k.id)).toContain(made.key.id);
    expect((await h.services.keys.verify(made.apiKey)).valid).toBe(true);
    expect((await cli(['keys', 'revoke', made.key.id, '--reason', 'test'])).code).toBe(0);
    await serverSees(made.apiKey, false);
    expect((await h.services.keys.verify(made.apiKey)).code).toBe('REVOKED');
    expect((await cli(['keys', 'reactivate', made.key.id])).code).toBe(0);
    await serverSees(made.apiKey, true);
    const rolled = await cli(['keys', 'roll', made.key.id, '--grace', '0', '--json']);
    expect(rolled.code, rolled.stderr).toBe(0);
    await serverSees(made.apiKey, false);
    expect((await h.services.keys.verify(rolled.json().apiKey)).valid).toBe(true);
    const newId = rolled.json().key.id as string;
    expect((await cli(['keys', 'delete', newId])).code).toBe(1); // no --yes
    expect((await h.services.keys.get(client.id, newId)).status).toBe('active');
    expect((await cli(['keys', 'delete', newId, '--yes'])).code).toBe(0);
    await serverSees(rolled.json().apiKey, false);
  });

  it('clients show, update and delete --yes', async () => {
    const client = await newClient('Showme');
    const shown = await cli(['clients', 'show', client.id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Showme');
    expect(shown.stdout).toContain('showme@acme.example');
    const updated = await cli([
      'clients',
      'update',
      client.id,
      '--name',
      'Renamed',
      '--tier',
      'pro',
      '--meta',
      '{"plan":"x"}',
      '--json',
    ]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(await h.services.clients.get(client.id)).toMatchObject({
      name: 'Renamed',
      tier: 'pro',
      metadata: { plan: 'x' },
    });
    const badEmail = await cli(['clients', 'update', client.id, '--email', 'nope']);
    expect(badEmail.code).toBe(1);
    const refused = await cli(['clients', 'delete', client.id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('add --yes to confirm');
    expect((await h.services.clients.get(client.id)).status).toBe('active');
    const deleted = await cli(['clients', 'delete', client.id, '--yes', '--json']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect((await h.services.clients.get(client.id)).status).toBe('deleted');
    const missing = await cli(['clients', 'show', 'client_000000000000000000000000']);
    expect(missing.code).toBe(1);
  });

  it('usage groups by client, day, endpoint and key, with --client and --json', async () => {
    const a = await newClient('Alpha');
    const b = await newClient('Bravo');
    const [ka] = (await h.services.keys.list(a.id)).data;
    const [kb] = (await h.services.keys.list(b.id)).data;
    const record = (clientId: string, keyId: string, endpoint: string, n: number, at: string) => {
      for (let i = 0; i < n; i++) {
        h.services.usage.record({
          requestId: `req_${randomBytes(12).toString('hex')}`,
          clientId,
          keyId,
          endpoint,
          method: endpoint.split(' ')[0]!,
          status: 200,
          environment: 'live',
          durationMs: 1,
          at: new Date(Date.parse(at) + i * 1000),
        });
      }
    };
    record(a.id, ka!.id, 'GET /v1/health', 3, '2025-10-02T10:00:00Z');
    record(a.id, ka!.id, 'POST /api/alert', 1, '2025-10-03T10:00:00Z');
    record(b.id, kb!.id, 'GET /v1/health', 2, '2025-10-02T11:00:00Z');
    await h.services.usage.flush();
    const range = ['--from', '2025-10-01', '--to', '2025-10-08'];
    const byClient = await cli(['usage', '--by', 'client', ...range, '--json']);
    expect(byClient.code, byClient.stderr).toBe(0);
    expect(byClient.json().totals).toMatchObject({ calls: 6, costMicros: 150_000 });
    expect(byClient.json().groups).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ group: a.id, calls: 4, cost: '0.13' }),
        expect.objectContaining({ group: b.id, calls: 2, cost: '0.02' }),
      ]),
    );
    const byDay = await cli(['usage', '--by', 'day', '--client', a.id, ...range, '--json']);
    expect(
      byDay.json().groups.map((g: { group: string; calls: number }) => [g.group, g.calls]),
    ).toEqual([
      ['2025-10-02', 3],
      ['2025-10-03', 1],
    ]);
    const byKey = await cli(['usage', '--by', 'key', '--client', b.id, ...range, '--json']);
    expect(byKey.json().groups).toEqual([expect.objectContaining({ group: kb!.id, calls: 2 })]);
    const text = await cli(['usage', '--by', 'endpoint', '--client', a.id, ...range]);
    expect(text.stdout).toContain('POST /api/alert');
    expect(text.stdout).toContain('total: 4 calls (0 test), 0.13 EUR');
    expect((await cli(['usage', '--by', 'week'])).code).toBe(1);
  });

  it('credentials add --platform and rotate (secret on stdin), verification starting over', async () => {
    const first = `gem-${randomBytes(12).toString('hex')}`;
    const added = await cli(
      ['credentials', 'add', '--platform', '--provider', 'gemini', '--name', 'server', '--json'],
      JSON.stringify({ apiKey: first }),
    );
    expect(added.code, added.stderr).toBe(0);
    const cred = added.json();
    expect(cred.clientId).toBeNull();
    expect(added.stdout).not.toContain(first);
    const client = await newClient();
    const resolve = () =>
      h.services.credentials.resolve({ clientId: client.id, provider: 'gemini' }, actor);
    expect(await resolve()).toMatchObject({
      source: 'platform',
      credentialId: cred.id,
      credentials: { apiKey: first },
    });

    await h.services.store.db
      .updateTable('credentials')
      .set({ is_verified: 1, last_verified_at: '2025-01-01T00:00:00.000Z' })
      .where('id', '=', cred.id)
      .execute();
    const second = `gem-${randomBytes(12).toString('hex')}`;
    const rotated = await cli(
      ['credentials', 'rotate', cred.id, '--json'],
      JSON.stringify({ apiKey: second }),
    );
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json()).toMatchObject({ id: cred.id, isVerified: false, lastVerifiedAt: null });
    expect(rotated.stdout + rotated.stderr).not.toContain(second);
    // The server's cache of opened secrets hears of the rotation through the change feed.
    await waitFor(
      async () => (await resolve()).credentials.apiKey === second,
      'the rotated secret',
    );
    const neither = await cli(['credentials', 'add', '--provider', 'gemini', '--name', 'x'], '{}');
    expect(neither.code).toBe(1);
  });

  it('invoices send, void and paid', async () => {
    const a = await newClient('Payer');
    const b = await newClient('Voided');
    for (const c of [a, b]) {
      const [k] = (await h.services.keys.list(c.id)).data;
      h.services.usage.record({
        requestId: `req_${randomBytes(12).toString('hex')}`,
        clientId: c.id,
        keyId: k!.id,
        endpoint: 'POST /api/alert',
        method: 'POST',
        status: 200,
        environment: 'live',
        durationMs: 1,
        at: new Date('2025-09-30T10:00:00Z'),
      });
    }
    await h.services.usage.flush();
    await h.services.billing.run({ period: '2025-W40', actor });
    const list = (await cli(['invoices', 'list', '--period', '2025-W40', '--json'])).json();
    const inv = (clientId: string) =>
      (list.data as Array<{ id: string; clientId: string }>).find((i) => i.clientId === clientId)!;

    const sent = await cli(['invoices', 'send', inv(a.id).id]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/^sent INV-2025-W40-\d{4} to payer@acme\.example/);
    expect(smtp.to('payer@acme.example')).toHaveLength(1);
    const paid = await cli(['invoices', 'paid', inv(a.id).id, '--json']);
    expect(paid.json().invoice).toMatchObject({ status: 'paid' });
    expect((await cli(['invoices', 'void', inv(a.id).id])).code).toBe(1); // paid: not voided

    const voided = await cli(['invoices', 'void', inv(b.id).id, '--reason', 'duplicate', '--json']);
    expect(voided.json().invoice).toMatchObject({ status: 'void', voidReason: 'duplicate' });
    const resend = await cli(['invoices', 'send', inv(b.id).id]);
    expect(resend.code).toBe(1);
    expect(smtp.to('voided@acme.example')).toHaveLength(0);

    // A failed delivery exits 1 and says when it is retried.
    const c = await newClient('Bounce');
    const [kc] = (await h.services.keys.list(c.id)).data;
    h.services.usage.record({
      requestId: `req_${randomBytes(12).toString('hex')}`,
      clientId: c.id,
      keyId: kc!.id,
      endpoint: 'POST /api/alert',
      method: 'POST',
      status: 200,
      environment: 'live',
      durationMs: 1,
      at: new Date('2025-10-07T10:00:00Z'),
    });
    await h.services.usage.flush();
    await h.services.billing.run({ period: '2025-W41', actor });
    const [bounce] = (await h.services.billing.list({ clientId: c.id })).data;
    smtp.failNext('bounce@acme.example', 3);
    const failed = await cli(['invoices', 'send', bounce!.id]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/not delivered: .*\(retry at /);
  });
});
