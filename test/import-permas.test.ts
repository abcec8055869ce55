import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../src/audit/audit-types.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import {
  buildPermasSource,
  permasToken,
  sha256,
  type PermasSource,
} from './support/import-sources.ts';
import { ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

const actor: Actor = { type: 'system', id: 'import-test' };

describe.each(ENGINES)('import of seed 05 (permas key store) on %s', (engine) => {
  let h: Harness;
  let src: PermasSource;
  let acme: string;
  let beta: string;
  const dir = mkdtempSync(join(tmpdir(), 'kp-import-permas-'));
  const health = (key: string, ip = '192.168.1.1') =>
    h.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { 'x-api-key': key },
      remoteAddress: ip,
    });
  const mapping = () => ({ provider123: acme, provider456: beta });

  beforeAll(async () => {
    // Keys' last use reaches storage every 100 ms here (the server's default: 5 s).
    h = await createHarness(engine, { tunables: { keysCache: { touchFlushMs: 100 } } });
    src = buildPermasSource(dir);
    acme = (await h.services.clients.create({ name: 'Acme', email: 'a@example.com' }, actor)).client
      .id;
    beta = (await h.services.clients.create({ name: 'Beta', email: 'b@example.com' }, actor)).client
      .id;
  });
  afterAll(async () => {
    src?.db.close();
    await h?.close();
  });

  it('a dry run reports what it would import and writes nothing', async () => {
    const report = await h.services.imports.permasKeys(src.path, mapping(), {
      actor,
      dryRun: true,
    });
    expect(report).toMatchObject({ dryRun: true, imported: { key: 5 }, failed: [] });
    expect((await h.services.keys.list(acme)).data).toHaveLength(1); // the client's first key
    expect((await health(src.tokens.live)).statusCode).toBe(401);
  });

  it('imports every token as a legacy key keeping scopes, IPs, expiry and revocation', async () => {
    const report = await h.services.imports.permasKeys(src.path, mapping(), { actor });
    expect(report).toMatchObject({ imported: { key: 5 }, skipped: {}, failed: [] });
    const keys = (await h.services.keys.list(acme)).data.filter((k) => k.legacy);
    const byName = new Map(keys.map((k) => [k.name, k]));
    expect(byName.get('My API Key')).toMatchObject({
      description: 'My live API key',
      environment: 'live',
      scopes: ['api:access'],
      ipAllowlist: ['192.168.1.1/32'],
      expiresAt: '2100-01-01T00:00:00.000Z',
      lastUsedAt: '2025-10-30T12:00:00.000Z',
      createdAt: '2025-06-01T09:00:00.000Z',
      status: 'active',
      start: 'permas_live_tok_live',
      meta: { importedFrom: 'permas', sourceId: 'tok_live', requestCount: 42 },
    });
    expect(byName.get('key tok_test')).toMatchObject({
      environment: 'test',
      scopes: ['api:access', 'reports:read'],
    });
    expect(byName.get('key tok_revoked')).toMatchObject({
      status: 'revoked',
      revokedAt: '2025-09-15T08:00:00.000Z',
      revokedReason: 'leaked in a public repository',
    });
    expect((await h.services.keys.list(beta)).data.filter((k) => k.legacy)).toHaveLength(1);
    expect(JSON.stringify(keys)).not.toContain(sha256(src.tokens.live));
  });

  it('the original tokens call /v1/health, inside their IP restrictions only', async () => {
    for (const token of [src.tokens.live, src.tokens.test, src.tokens.other]) {
      const res = await health(token);
      expect(res.statusCode, res.body).toBe(200);
    }
    const elsewhere = await health(src.tokens.live, '10.0.0.7');
    expect(elsewhere.statusCode).toBe(403);
    expect(elsewhere.json().error.code).toBe('ip_not_allowed');
    // The test key has no IP restriction: any address.
    expect((await health(src.tokens.test, '10.0.0.7')).statusCode).toBe(200);
  });

  it('verification keeps the scopes; revoked and expired tokens are refused', async () => {
    const verify = async (key: string, scopes: string[]) =>
      h.services.keys.verify(key, { scopes, ip: '192.168.1.1' });
    expect(await verify(src.tokens.live, ['api:access'])).toMatchObject({
      valid: true,
      code: 'VALID',
      clientId: acme,
      environment: 'live',
    });
    expect(await verify(src.tokens.test, ['reports:read'])).toMatchObject({ code: 'VALID' });
    expect(await verify(src.tokens.live, ['reports:read'])).toMatchObject({
      code: 'INSUFFICIENT_SCOPE',
    });
    expect(await verify(src.tokens.revoked, [])).toMatchObject({ code: 'REVOKED' });
    expect(await verify(src.tokens.expired, [])).toMatchObject({ code: 'EXPIRED' });
    const revoked = await health(src.tokens.revoked);
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.message).toMatch(/revoked/i);
    const expired = await health(src.tokens.expired);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toMatch(/expired/i);
    expect(await verify(permasToken('live'), [])).toMatchObject({ code: 'MALFORMED' });
  });

  it('a second run imports nothing new', async () => {
    const report = await h.services.imports.permasKeys(src.path, mapping(), { actor });
    expect(report).toMatchObject({ imported: {}, skipped: { key: 5 }, failed: [] });
    expect((await h.services.keys.list(acme)).data.filter((k) => k.legacy)).toHaveLength(4);
  });

  it('the operator sees how many legacy keys are still active and in use', async () => {
    const summary = async () =>
      (
        await h.app.inject({ method: 'GET', url: '/admin/v1/keys/legacy', headers: h.adminHeaders })
      ).json() as { total: number; active: number; usedLast30Days: number };
    // Revoked: tok_revoked. Used since the import: the live, test and other tokens (their last
    // use reaches storage within the touch flush interval).
    const used = await waitFor(async () => {
      const s = await summary();
      return s.usedLast30Days === 3 && s;
    }, 'the calls of three legacy keys to be recorded');
    expect(used).toEqual({ total: 5, active: 4, usedLast30Days: 3 });
    const anon = await h.app.inject({ method: 'GET', url: '/admin/v1/keys/legacy' });
    expect(anon.statusCode).toBe(401);
    const listed = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${beta}/keys`,
      headers: h.adminHeaders,
    });
    const legacy = (listed.json().data as Array<{ start: string; legacy: boolean }>).filter(
      (k) => k.legacy,
    );
    expect(legacy.map((k) => k.start)).toEqual(['permas_live_tok_other']);
  });

  it('reports bad rows one by one, with no token in the report', async () => {
    const bad = buildPermasSource(dir, `bad-${engine}.db`);
    const dup = permasToken('live');
    const add = bad.db.prepare(
      'INSERT INTO api_keys (token_id, provider_id, environment, token_hash, scopes, ip_restrictions) VALUES (?, ?, ?, ?, ?, ?)',
    );
    add.run('tok_nobody', 'provider999', 'live', sha256(permasToken('live')), '[]', null);
    add.run('tok_gone', 'provider000', 'live', sha256(permasToken('live')), '[]', null);
    add.run('tok_zdup', 'provider123', 'live', sha256(bad.tokens.test), '[]', null);
    add.run('tok_known', 'provider123', 'live', sha256(src.tokens.live), '[]', null);
    add.run('tok_env', 'provider123', 'staging', sha256(dup), '[]', null);
    add.run('tok_ip', 'provider123', 'live', sha256(permasToken('live')), '[]', '["intranet"]');
    add.run('tok_scope', 'provider123', 'live', sha256(permasToken('live')), '["a b"]', null);
    add.run('tok_hash', 'provider123', 'live', 'not-a-hash', '[]', null);
    const report = await h.services.imports.permasKeys(
      bad.path,
      { ...mapping(), provider000: 'client_missing' },
      { actor, source: 'permas-2' },
    );
    const problems = report.failed.map((f) => `${f.entity} ${f.sourceId}: ${f.message}`);
    expect(problems).toEqual([
      'key tok_env: environment must be test or live (got "staging")',
      'key tok_gone: provider provider000 maps to client client_missing, which does not exist',
      'key tok_hash: token_hash is not a SHA-256 (64 hex digits)',
      'key tok_ip: ip_restrictions: "intranet" is not an IP address or CIDR',
      'key tok_known: a key with this hash exists already',
      'key tok_nobody: provider provider999 is not mapped to a Keyplane client (--client provider999=CLIENT_ID)',
      'key tok_scope: scope "a b" is not a valid Keyplane scope',
      'key tok_zdup: duplicate key: the same token_hash as an earlier row',
    ]);
    // The good rows of the same source are imported, and nothing of the refused ones.
    expect(report.imported).toEqual({ key: 5 });
    expect((await health(bad.tokens.live)).statusCode).toBe(200);
    expect(await h.services.keys.verify(dup, {})).toMatchObject({ code: 'MALFORMED' });
    expect(JSON.stringify(report)).not.toContain(bad.tokens.test);
    bad.db.close();
  });

  /** Runs SQL on Keyplane's own database beside the server (a trigger the test installs). */
  async function onKeyplaneDb(statements: { sqlite: string; postgres: string }) {
    if (engine === 'sqlite') {
      const raw = new Sqlite(h.database.url.slice('sqlite:'.length));
      raw.exec(statements.sqlite);
      raw.close();
      return;
    }
    const c = new pg.Client({ connectionString: h.database.url });
    await c.connect();
    await c.query(statements.postgres);
    await c.end();
  }

  it('a row whose bookkeeping fails leaves nothing behind (one transaction per row)', async () => {
    const one = buildPermasSource(dir, `boom-${engine}.db`);
    const boom = permasToken('live');
    one.db
      .prepare(
        "INSERT INTO api_keys (token_id, provider_id, environment, token_hash, scopes) VALUES ('tok_boom', 'provider123', 'live', ?, '[]')",
      )
      .run(sha256(boom));
    await onKeyplaneDb({
      sqlite: `CREATE TRIGGER boom BEFORE INSERT ON import_records WHEN NEW.source_id = 'tok_boom'
               BEGIN SELECT RAISE(ABORT, 'boom'); END;`,
      postgres: `CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN
                   IF NEW.source_id = 'tok_boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW;
                 END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER boom BEFORE INSERT ON import_records FOR EACH ROW EXECUTE FUNCTION boom();`,
    });
    const keysBefore = (await h.services.keys.list(acme)).data.length;
    const first = await h.services.imports.permasKeys(one.path, mapping(), {
      actor,
      source: 'permas-boom',
    });
    expect(first.imported).toEqual({ key: 5 });
    expect(first.failed).toEqual([
      {
        entity: 'key',
        sourceId: 'tok_boom',
        message: expect.stringMatching(/^could not be stored/),
      },
    ]);
    // The key's insert and its audit entry were rolled back with the bookkeeping.
    expect((await h.services.keys.list(acme)).data).toHaveLength(keysBefore + 4);
    const audit = await h.services.audit.list({ action: 'key.imported', limit: 1000 });
    expect(audit.data.filter((e) => e.data.start === 'permas_live_tok_boom')).toHaveLength(0);
    expect(await h.services.audit.verify()).toMatchObject({ ok: true });
    expect(await h.services.keys.verify(boom, {})).toMatchObject({ valid: false });

    await onKeyplaneDb({
      sqlite: 'DROP TRIGGER boom;',
      postgres: 'DROP TRIGGER boom ON import_records; DROP FUNCTION boom();',
    });
    const again = await h.services.imports.permasKeys(one.path, mapping(), {
      actor,
      source: 'permas-boom',
    });
    expect(again).toMatchObject({ imported: { key: 1 }, skipped: { key: 5 }, failed: [] });
    await waitFor(
      async () => (await h.services.keys.verify(boom, {})).valid,
      'the re-imported key to verify',
    );
    one.db.close();
  });

  it('a table with unknown columns is refused row by row', async () => {
    const odd = buildPermasSource(dir, `odd-${engine}.db`);
    odd.db.exec('ALTER TABLE api_keys ADD COLUMN tenant TEXT');
    const report = await h.services.imports.permasKeys(odd.path, mapping(), {
      actor,
      source: 'permas-3',
    });
    expect(report.imported).toEqual({});
    expect(report.failed).toHaveLength(5);
    expect(report.failed[0]).toMatchObject({
      entity: 'key',
      message: 'api_keys: unknown column(s) tenant',
    });
    odd.db.close();
  });

  it('keyplane import permas-keys --client maps providers; --json summary, no token printed', async () => {
    const more = buildPermasSource(dir, `cli-${engine}.db`);
    const env = { KEYPLANE_DATABASE_URL: h.database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    const args = ['import', 'permas-keys', more.path, '--source', 'permas-cli'];
    const wrong = await runKeyplaneInProcess([...args, '--client', 'provider123'], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('--client wants PROVIDER=CLIENT_ID');
    const res = await runKeyplaneInProcess([...args, '--client', `provider123=${acme}`, '--json'], {
      env,
    });
    expect(res.code, res.stderr).toBe(1); // provider456 is not mapped
    const summary = JSON.parse(res.stdout) as { imported: unknown; failed: unknown[] };
    expect(summary.imported).toEqual({ key: 4 });
    expect(summary.failed).toEqual([
      expect.objectContaining({
        sourceId: 'tok_other',
        message: expect.stringMatching(/provider456 is not mapped/),
      }),
    ]);
    for (const token of Object.values(more.tokens)) {
      expect(res.stdout + res.stderr).not.toContain(token);
      expect(res.stdout + res.stderr).not.toContain(sha256(token));
    }
    expect((await health(more.tokens.live)).statusCode).toBe(200);
    more.db.close();
  });
});
