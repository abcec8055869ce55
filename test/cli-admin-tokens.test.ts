import { readFileSync, existsSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../src/lib/key-format.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';

/** keyplane admin-tokens create|list|revoke on the store directly, used over HTTP by a server on the same store. */
describe.each(ENGINES)('keyplane admin-tokens on %s', (engine) => {
  let database: TestDatabase;
  let h: Harness;
  let env: Record<string, string>;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    env = { KEYPLANE_DATABASE_URL: database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    // The CLI creates the schema on first use; the in-process server shares the database.
    const first = await runKeyplaneInProcess(['admin-tokens', 'list', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ data: [] });
    h = await createHarness(engine, { database });
  });
  afterAll(async () => {
    await h?.close();
    await database?.drop();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('create --json answers {adminToken, token}; the token is hashed at rest and works over HTTP', async () => {
    const r = await runKeyplaneInProcess(
      [
        'admin-tokens',
        'create',
        '--name',
        'grafana',
        '--scopes',
        'audit:read,metrics:read',
        '--json',
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const created = JSON.parse(r.stdout);
    expect(Object.keys(created).sort()).toEqual(['adminToken', 'token']);
    expect(created.token).toMatch(/^kpadm_live_[0-9A-Za-z]{49}$/);
    expect(created.adminToken).toMatchObject({
      id: expect.stringMatching(/^adm_/),
      name: 'grafana',
      scopes: ['audit:read', 'metrics:read'],
      start: created.token.slice(0, 'kpadm_live_'.length + 4),
      status: 'active',
      revokedAt: null,
      createdBy: expect.stringMatching(/^cli:/),
    });
    expect(JSON.stringify(created.adminToken)).not.toContain(created.token);

    // At rest: the SHA-256, never the token.
    const rows = await sql<Record<string, unknown>>`select * from admin_tokens`.execute(
      h.services.store.db,
    );
    const dump = JSON.stringify(rows.rows);
    expect(dump).not.toContain(created.token);
    expect(dump).toContain(hashKey(created.token));
    if (engine === 'sqlite') {
      const file = database.url.slice('sqlite:'.length);
      for (const f of [file, `${file}-wal`]) {
        if (existsSync(f)) expect(readFileSync(f).includes(created.token)).toBe(false);
      }
    }

    // Scopes hold over HTTP: audit and metrics yes, token management no.
    const headers = bearer(created.token);
    expect(
      (await h.app.inject({ method: 'GET', url: '/admin/v1/audit', headers })).statusCode,
    ).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/metrics', headers })).statusCode).toBe(200);
    const denied = await h.app.inject({ method: 'GET', url: '/admin/v1/admin-tokens', headers });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('insufficient_scope');
  });

  it('create prints the token once for humans; list never shows it', async () => {
    const r = await runKeyplaneInProcess(['admin-tokens', 'create', '--name', 'ops'], { env });
    expect(r.code, r.stderr).toBe(0);
    const token = /\n\s+(kpadm_live_[0-9A-Za-z]{49})\n/.exec(r.stdout)?.[1];
    expect(token).toBeDefined();
    expect(r.stdout).toContain('shown only once');
    expect(r.stdout.split(token!).length - 1).toBe(1);

    const human = await runKeyplaneInProcess(['admin-tokens', 'list'], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^ID\s+NAME\s+START\s+SCOPES\s+STATUS/);
    expect(human.stdout).toContain('ops');
    expect(human.stdout).not.toContain(token);
    const listed = JSON.parse(
      (await runKeyplaneInProcess(['admin-tokens', 'list', '--json'], { env })).stdout,
    );
    expect(listed.data.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(['test', 'grafana', 'ops']),
    );
    expect(JSON.stringify(listed)).not.toContain(token);
    for (const t of listed.data) expect(t).not.toHaveProperty('token_hash');
  });

  it('revoke stops the token at once (401), is audited, and is idempotent', async () => {
    const created = JSON.parse(
      (await runKeyplaneInProcess(['admin-tokens', 'create', '--name', 'temp', '--json'], { env }))
        .stdout,
    );
    const headers = bearer(created.token);
    expect(
      (await h.app.inject({ method: 'GET', url: '/admin/v1/admin-tokens', headers })).statusCode,
    ).toBe(200);

    const r = await runKeyplaneInProcess(
      ['admin-tokens', 'revoke', created.adminToken.id, '--json'],
      {
        env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).adminToken).toMatchObject({
      id: created.adminToken.id,
      status: 'revoked',
      revokedAt: expect.any(String),
    });
    const after = await h.app.inject({ method: 'GET', url: '/admin/v1/admin-tokens', headers });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('unauthorized');

    const again = await runKeyplaneInProcess(['admin-tokens', 'revoke', created.adminToken.id], {
      env,
    });
    expect(again.code).toBe(0);

    const audit = await h.services.audit.list({ targetId: created.adminToken.id });
    expect(audit.data.map((e) => e.action)).toEqual(['admin_token.revoked', 'admin_token.created']);
    for (const e of audit.data) {
      expect(e.actorType).toBe('cli');
      expect(JSON.stringify(e)).not.toContain(created.token);
    }
  });

  it('refuses unknown ids, unknown scopes and a missing name', async () => {
    const unknown = await runKeyplaneInProcess(['admin-tokens', 'revoke', 'adm_nope'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('error: admin token not found');
    const scope = await runKeyplaneInProcess(
      ['admin-tokens', 'create', '--name', 'x', '--scopes', 'root'],
      {
        env,
      },
    );
    expect(scope.code).toBe(1);
    expect(scope.stderr).toContain('unknown scope(s): root');
    const noName = await runKeyplaneInProcess(['admin-tokens', 'create'], { env });
    expect(noName.code).toBe(1); // a usage error (README, CLI exit codes)
    expect(noName.stderr).toContain("required option '--name <name>'");
  });

  it('HTTP: create and revoke over /admin/v1/admin-tokens, audited with the admin and IP', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: 'http-made', scopes: ['clients:read'] },
    });
    expect(res.statusCode).toBe(201);
    const { adminToken, token } = res.json();
    const revoked = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/admin-tokens/${adminToken.id}/revoke`,
      headers: h.adminHeaders,
    });
    expect(revoked.statusCode).toBe(200);
    expect(
      (await h.app.inject({ method: 'GET', url: '/metrics', headers: bearer(token) })).statusCode,
    ).toBe(401);
    const audit = await h.services.audit.list({ targetId: adminToken.id });
    expect(audit.data.map((e) => [e.action, e.actorType, e.ip])).toEqual([
      ['admin_token.revoked', 'admin', '127.0.0.1'],
      ['admin_token.created', 'admin', '127.0.0.1'],
    ]);
  });
});
