import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../src/audit/audit-types.ts';
import { PLATFORM_OWNER } from '../src/credentials/credentials-types.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/infra/logger.ts';
import { loadKeyring } from '../src/infra/master-key.ts';
import { openRuntime } from '../src/runtime.ts';
import { createHarness, logCapture, testConfig, type Harness } from './support/harness.ts';
import { dumpDatabase, sqliteFiles } from './support/secret-scan.ts';
import { createTestDatabase, ENGINES } from './support/stores.ts';

const ACTOR: Actor = { type: 'admin', id: 'adm_test', ip: '203.0.113.9' };
const b64 = () => randomBytes(32).toString('base64');

/** Every secret the current test stores; the scan after each test looks for each of them. */
const SECRETS = new Set<string>();
function secret(label: string): string {
  const s = `${label}-${randomBytes(18).toString('base64url')}`;
  SECRETS.add(s);
  return s;
}

describe.each(ENGINES)('credentials vault on %s', (engine) => {
  let h: Harness;
  let alpha: string;
  let bravo: string;
  const creds = () => h.services.credentials;

  /** No secret this test stored is in a row, the SQLite files, the audit log or the logs. */
  async function scanForSecrets() {
    await creds().flushUsage();
    const dump = await dumpDatabase(h);
    const files = sqliteFiles(h);
    const logs = h.logs.text();
    for (const s of SECRETS) {
      expect(dump, 'database rows').not.toContain(s);
      expect(files.includes(Buffer.from(s)), 'SQLite db/WAL bytes').toBe(false);
      expect(logs, 'logs').not.toContain(s);
    }
  }

  // Each test its own server and two clients; after each, its secrets are looked for everywhere.
  beforeEach(async () => {
    SECRETS.clear();
    h = await createHarness(engine, {
      file: {
        providers: {
          gemini: { policy: 'byok' },
          openai: { policy: 'platform' },
          anthropic: { policy: 'byok_then_platform' },
        },
      },
    });
    alpha = (await h.services.clients.create({ name: 'Alpha', email: 'a@example.com' }, ACTOR))
      .client.id;
    bravo = (await h.services.clients.create({ name: 'Bravo', email: 'b@example.com' }, ACTOR))
      .client.id;
  });
  afterEach(async () => {
    try {
      if (h) await scanForSecrets();
    } finally {
      await h?.close();
    }
  });

  it('stores a secret write-only and answers metadata', async () => {
    const key = secret('vultr');
    const c = await creds().create(
      alpha,
      {
        provider: 'vultr',
        credentialName: 'Production Vultr',
        credentials: { apiKey: key },
        credentialType: 'api_key',
        permissions: 'read_only',
      },
      ACTOR,
    );
    expect(c).toMatchObject({
      clientId: alpha,
      name: 'Production Vultr',
      provider: 'vultr',
      type: 'api_key',
      permissions: 'read_only',
      fields: ['apiKey'],
      isActive: true,
      isVerified: false,
      lastVerifiedAt: null,
      lastUsedAt: null,
      usageCount: 0,
    });
    expect(c.id).toMatch(/^cred_[0-9a-f]{24}$/);
    expect(JSON.stringify(c)).not.toContain(key);
    const listed = await creds().list(alpha);
    expect(listed.data.map((x) => x.id)).toContain(c.id);
    expect(JSON.stringify(listed)).not.toContain(key);
    const row = await h.services.store.db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    expect(row.secret).toMatch(/^v1\./);
    expect(row.master_key_id).toBe('default');
    const trail = await creds().auditTrail(alpha, c.id);
    expect(trail.data[0]).toMatchObject({
      action: 'credential.created',
      actorType: 'admin',
      actorId: 'adm_test',
      ip: '203.0.113.9',
    });
  });

  it('accepts seed 03 snake_case fields and validates every provider, naming the field', async () => {
    const aws = await creds().create(
      alpha,
      {
        provider: 'aws',
        credentialName: 'Production AWS',
        credentials: { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: secret('aws') },
        credentialType: 'access_key',
      },
      ACTOR,
    );
    expect(aws.fields).toEqual(['accessKeyId', 'secretAccessKey']);
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['aws', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE' }, /credentials\.secretAccessKey/],
      [
        'aws',
        { accessKeyId: 'lower', secretAccessKey: 'x'.repeat(40) },
        /credentials\.accessKeyId/,
      ],
      [
        'aws',
        { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x'.repeat(40), region: 'moon' },
        /credentials\.region/,
      ],
      ['vultr', {}, /credentials\.apiKey/],
      ['vultr', { apiKey: 'k', extra: 'x' }, /unknown field\(s\) extra/],
      ['gcp', { serviceAccountJson: '{nope' }, /credentials\.serviceAccountJson.*valid JSON/],
      [
        'gcp',
        { serviceAccountJson: '{"client_email":"a@b.iam"}' },
        /credentials\.serviceAccountJson\.private_key/,
      ],
      [
        'gcp',
        { serviceAccountJson: { client_email: 'a@b', private_key: 'not a pem' } },
        /private_key must be an RSA/,
      ],
      [
        'azure',
        { tenantId: 'contoso.onmicrosoft.com', clientId: 'nope', clientSecret: 's' },
        /credentials\.clientId/,
      ],
      ['gemini', { apiKey: '' }, /credentials\.apiKey/],
      ['generic', {}, /credentials/],
    ];
    for (const [provider, fields, message] of bad) {
      await expect(
        creds().create(alpha, { provider, credentialName: 'x', credentials: fields }, ACTOR),
        `${provider} ${JSON.stringify(fields)}`,
      ).rejects.toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(message),
      });
    }
    await expect(
      creds().create(alpha, { provider: 'dropbox', credentialName: 'x', credentials: {} }, ACTOR),
    ).rejects.toMatchObject({
      code: 'validation_failed',
      message: expect.stringMatching(/provider/),
    });
    await expect(
      creds().create(
        alpha,
        {
          provider: 'vultr',
          credentialName: 'x',
          credentials: { apiKey: 'k' },
          permissions: 'root',
        },
        ACTOR,
      ),
    ).rejects.toMatchObject({ message: expect.stringMatching(/^permissions/) });
    const failures = await h.services.audit.list({ clientId: alpha, action: 'credential.failed' });
    expect(failures.data.some((e) => e.data.field === 'credentials.secretAccessKey')).toBe(true);
  });

  it('refuses a second live credential with the same name, frees it on delete', async () => {
    const input = {
      provider: 'exa',
      credentialName: 'Exa',
      credentials: { apiKey: secret('exa') },
    };
    const first = await creds().create(alpha, input, ACTOR);
    await expect(creds().create(alpha, input, ACTOR)).rejects.toMatchObject({ code: 'conflict' });
    // Another client may use the same name.
    await creds().create(bravo, { ...input, credentials: { apiKey: secret('exa') } }, ACTOR);
    await creds().remove(alpha, first.id, ACTOR);
    const again = await creds().create(
      alpha,
      { ...input, credentials: { apiKey: secret('exa') } },
      ACTOR,
    );
    expect(again.id).not.toBe(first.id);
  });

  it("answers another client's credential exactly like a missing one", async () => {
    const c = await creds().create(
      bravo,
      {
        provider: 'gemini',
        credentialName: 'Bravo Gemini',
        credentials: { apiKey: secret('gem') },
      },
      ACTOR,
    );
    const attempts = [
      () => creds().get(alpha, c.id),
      () => creds().update(alpha, c.id, { credentialName: 'stolen' }, ACTOR),
      () => creds().remove(alpha, c.id, ACTOR),
      () => creds().verify(alpha, c.id, ACTOR),
      () => creds().auditTrail(alpha, c.id),
      () => creds().get(PLATFORM_OWNER, c.id),
      () => creds().resolve({ clientId: alpha, provider: 'gemini', credentialId: c.id }, ACTOR),
    ];
    for (const attempt of attempts) {
      await expect(attempt()).rejects.toMatchObject({ code: 'not_found' });
    }
    expect((await creds().get(bravo, c.id)).name).toBe('Bravo Gemini');
    expect((await creds().list(alpha)).data.some((x) => x.id === c.id)).toBe(false);
  });

  it('updates metadata and replaces a secret under a new data key, resetting verification', async () => {
    const c = await creds().create(
      alpha,
      { provider: 'openai', credentialName: 'OpenAI', credentials: { apiKey: secret('oai') } },
      ACTOR,
    );
    const before = await h.services.store.db
      .selectFrom('credentials')
      .select(['secret', 'wrapped_key'])
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    await h.services.store.db
      .updateTable('credentials')
      .set({ is_verified: 1, last_verified_at: '2025-01-01T00:00:00.000Z' })
      .where('id', '=', c.id)
      .execute();
    const renamed = await creds().update(
      alpha,
      c.id,
      { credentialName: 'OpenAI prod', permissions: 'read_write' },
      ACTOR,
    );
    expect(renamed).toMatchObject({
      name: 'OpenAI prod',
      permissions: 'read_write',
      isVerified: true,
    });
    const next = secret('oai2');
    const replaced = await creds().update(alpha, c.id, { credentials: { apiKey: next } }, ACTOR);
    expect(replaced.isVerified).toBe(false);
    expect(replaced.lastVerifiedAt).toBeNull();
    const after = await h.services.store.db
      .selectFrom('credentials')
      .select(['secret', 'wrapped_key'])
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    expect(after.wrapped_key).not.toBe(before.wrapped_key);
    expect(after.secret).not.toBe(before.secret);
    const trail = await creds().auditTrail(alpha, c.id);
    expect(trail.data.map((e) => e.action)).toEqual([
      'credential.updated',
      'credential.updated',
      'credential.created',
    ]);
    expect(trail.data[0]!.data).toMatchObject({ changed: ['credentials'] });
  });

  it('resolves by policy: byok, platform, byok_then_platform', async () => {
    const aGem = secret('alpha-gemini');
    const gem = await creds().create(
      alpha,
      { provider: 'gemini', credentialName: 'Alpha Gemini', credentials: { apiKey: aGem } },
      ACTOR,
    );
    // byok: the client's own key, costs land on the client's account (seed 04).
    expect(await creds().resolve({ clientId: alpha, provider: 'gemini' }, ACTOR)).toEqual({
      provider: 'gemini',
      policy: 'byok',
      source: 'byok',
      credentialId: gem.id,
      credentials: { apiKey: aGem },
    });
    // Bravo's own gemini key, never Alpha's.
    const bGem = await creds().create(
      bravo,
      { provider: 'gemini', credentialName: 'Bravo Gemini', credentials: { apiKey: secret('b') } },
      ACTOR,
    );
    await expect(
      creds().resolve({ clientId: bravo, provider: 'gemini' }, ACTOR),
    ).resolves.toMatchObject({
      source: 'byok',
      credentialId: bGem.id,
    });
    // platform: the operator's server-held key (seed 01), whatever the client stored.
    const platformKey = secret('platform-openai');
    const p = await creds().create(
      PLATFORM_OWNER,
      {
        provider: 'openai',
        credentialName: 'Operator OpenAI',
        credentials: { apiKey: platformKey },
      },
      ACTOR,
    );
    expect(p.clientId).toBeNull();
    const viaPlatform = await creds().resolve({ clientId: alpha, provider: 'openai' }, ACTOR);
    expect(viaPlatform).toMatchObject({
      source: 'platform',
      credentialId: p.id,
      credentials: { apiKey: platformKey },
    });
    // byok_then_platform: the client's if it has one, else the operator's.
    await expect(
      creds().resolve({ clientId: alpha, provider: 'anthropic' }, ACTOR),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/neither the client nor the operator/),
    });
    const opAnthropic = secret('platform-anthropic');
    await creds().create(
      PLATFORM_OWNER,
      { provider: 'anthropic', credentialName: 'Op', credentials: { apiKey: opAnthropic } },
      ACTOR,
    );
    expect(
      (await creds().resolve({ clientId: alpha, provider: 'anthropic' }, ACTOR)).credentials.apiKey,
    ).toBe(opAnthropic);
    const own = secret('alpha-anthropic');
    await creds().create(
      alpha,
      { provider: 'anthropic', credentialName: 'Mine', credentials: { apiKey: own } },
      ACTOR,
    );
    expect(await creds().resolve({ clientId: alpha, provider: 'anthropic' }, ACTOR)).toMatchObject({
      source: 'byok',
      credentials: { apiKey: own },
    });
    // byok without a credential: a helpful 404, audited as a failure.
    await expect(
      creds().resolve({ clientId: alpha, provider: 'vultr' }, ACTOR),
    ).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/vultr/) });
    await expect(
      creds().resolve({ clientId: alpha, provider: 'azure' }, ACTOR),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/add one with POST \/v1\/credentials/),
    });
    await creds().flushUsage();
    const used = await h.services.audit.list({ clientId: alpha, action: 'credential.used' });
    expect(used.data[0]).toMatchObject({ actorId: 'adm_test', ip: '203.0.113.9' });
    const failed = await h.services.audit.list({ clientId: alpha, action: 'credential.failed' });
    expect(failed.data[0]!.data).toMatchObject({ operation: 'resolve', provider: 'azure' });
    // Unknown, suspended and deleted clients get nothing.
    await expect(
      creds().resolve({ clientId: 'client_000000000000000000000000', provider: 'gemini' }, ACTOR),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('counts uses in memory and writes them in batches', async () => {
    const c = await creds().create(
      alpha,
      { provider: 'vultr', credentialName: 'Counter', credentials: { apiKey: secret('ctr') } },
      ACTOR,
    );
    await creds().update(alpha, c.id, {}, ACTOR);
    const before = (await creds().list(alpha, { provider: 'vultr' })).data.find(
      (x) => x.id === c.id,
    )!;
    expect(before.usageCount).toBe(0);
    // Make it the one resolve picks: newest verified.
    await h.services.store.db
      .updateTable('credentials')
      .set({ is_verified: 1 })
      .where('id', '=', c.id)
      .execute();
    for (let i = 0; i < 7; i++)
      await creds().resolve({ clientId: alpha, provider: 'vultr' }, ACTOR);
    const seen = await creds().get(alpha, c.id);
    expect(seen.usageCount).toBe(7);
    expect(seen.lastUsedAt).not.toBeNull();
    await creds().flushUsage();
    const row = await h.services.store.db
      .selectFrom('credentials')
      .select(['usage_count', 'last_used_at'])
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    expect(Number(row.usage_count)).toBe(7);
    expect(row.last_used_at).toBe(seen.lastUsedAt);
    expect((await creds().get(alpha, c.id)).usageCount).toBe(7);
  });

  it('refuses to open a ciphertext moved to another row or client, or with a flipped bit', async () => {
    const mk = async (owner: string, name: string) =>
      creds().create(
        owner,
        { provider: 'copilotkit', credentialName: name, credentials: { apiKey: secret('ck') } },
        ACTOR,
      );
    const src = await mk(alpha, 'source');
    const sameClient = await mk(alpha, 'target');
    const otherClient = await mk(bravo, 'target');
    const db = h.services.store.db;
    const srcRow = await db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', src.id)
      .executeTakeFirstOrThrow();
    // These writes go around the service, so they tell the caches what a write through it would.
    const told = (owner: string, id: string) =>
      h.services.changes.publish({ kind: 'credential', id, clientId: owner });
    const move = async (id: string) => {
      await db
        .updateTable('credentials')
        .set({
          secret: srcRow.secret,
          wrapped_key: srcRow.wrapped_key,
          master_key_id: srcRow.master_key_id,
        })
        .where('id', '=', id)
        .execute();
      await told(alpha, id);
      await told(bravo, id);
    };
    await move(sameClient.id);
    await move(otherClient.id);
    await expect(
      creds().resolve(
        { clientId: alpha, provider: 'copilotkit', credentialId: sameClient.id },
        ACTOR,
      ),
    ).rejects.toMatchObject({
      code: 'internal_error',
      message: expect.stringMatching(/cannot be opened: data key failed its integrity check/),
    });
    await expect(
      creds().resolve(
        { clientId: bravo, provider: 'copilotkit', credentialId: otherClient.id },
        ACTOR,
      ),
    ).rejects.toMatchObject({
      code: 'internal_error',
    });
    // The whole row handed to another tenant.
    await db
      .updateTable('credentials')
      .set({ client_id: bravo, name: 'moved', active_name: 'moved' })
      .where('id', '=', src.id)
      .execute();
    await told(bravo, src.id);
    await expect(
      creds().resolve({ clientId: bravo, provider: 'copilotkit', credentialId: src.id }, ACTOR),
    ).rejects.toMatchObject({
      code: 'internal_error',
    });
    await db
      .updateTable('credentials')
      .set({ client_id: alpha, name: 'source', active_name: 'source' })
      .where('id', '=', src.id)
      .execute();
    await told(alpha, src.id);
    expect(
      (
        await creds().resolve(
          { clientId: alpha, provider: 'copilotkit', credentialId: src.id },
          ACTOR,
        )
      ).credentialId,
    ).toBe(src.id);
    // One flipped bit in the sealed secret.
    const parts = srcRow.secret.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[ct.length - 1]! ^= 0x80;
    parts[3] = ct.toString('base64url');
    await db
      .updateTable('credentials')
      .set({ secret: parts.join('.') })
      .where('id', '=', src.id)
      .execute();
    await told(alpha, src.id);
    await expect(
      creds().resolve({ clientId: alpha, provider: 'copilotkit', credentialId: src.id }, ACTOR),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/secret failed its integrity check/),
    });
    const failed = await creds().auditTrail(alpha, src.id);
    expect(failed.data[0]).toMatchObject({
      action: 'credential.failed',
      data: { operation: 'resolve' },
    });
  });

  it('soft delete keeps metadata and the audit trail, shreds the data key', async () => {
    const c = await creds().create(
      alpha,
      {
        provider: 'azure',
        credentialName: 'Azure',
        credentials: {
          tenantId: 'contoso.onmicrosoft.com',
          clientId: '11111111-2222-3333-4444-555555555555',
          clientSecret: secret('az'),
        },
      },
      ACTOR,
    );
    expect(
      (await creds().resolve({ clientId: alpha, provider: 'azure' }, ACTOR)).credentialId,
    ).toBe(c.id);
    const gone = await creds().remove(alpha, c.id, ACTOR);
    expect(gone).toMatchObject({ isActive: false, deletedAt: expect.any(String) });
    const row = await h.services.store.db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', c.id)
      .executeTakeFirstOrThrow();
    expect(row.wrapped_key).toBeNull();
    expect(row.master_key_id).toBeNull();
    await expect(
      creds().resolve({ clientId: alpha, provider: 'azure' }, ACTOR),
    ).rejects.toMatchObject({ code: 'not_found' });
    await expect(creds().update(alpha, c.id, { credentialName: 'x' }, ACTOR)).rejects.toMatchObject(
      { code: 'conflict' },
    );
    expect((await creds().list(alpha)).data.some((x) => x.id === c.id)).toBe(false);
    expect(
      (await creds().list(alpha, { includeDeleted: true })).data.some((x) => x.id === c.id),
    ).toBe(true);
    const trail = await creds().auditTrail(alpha, c.id);
    expect(trail.data.map((e) => e.action)).toEqual([
      'credential.deleted',
      'credential.used',
      'credential.created',
    ]);
    // Deleting again changes nothing.
    await creds().remove(alpha, c.id, ACTOR);
    expect((await creds().auditTrail(alpha, c.id)).data).toHaveLength(3);
  });

  it('summarizes per provider', async () => {
    const vultr = (name: string) =>
      creds().create(
        alpha,
        { provider: 'vultr', credentialName: name, credentials: { apiKey: secret('v') } },
        ACTOR,
      );
    await vultr('one');
    const verified = await vultr('two');
    await h.services.store.db
      .updateTable('credentials')
      .set({ is_verified: 1 })
      .where('id', '=', verified.id)
      .execute();
    await creds().create(
      alpha,
      {
        provider: 'aws',
        credentialName: 'AWS',
        credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: secret('aws') },
      },
      ACTOR,
    );
    await creds().create(
      bravo,
      { provider: 'vultr', credentialName: 'other', credentials: { apiKey: secret('b') } },
      ACTOR,
    );
    const s = await creds().summary(alpha);
    expect(s.clientId).toBe(alpha);
    expect(s.providers.vultr).toEqual({ total: 2, active: 2, verified: 1 });
    expect(s.totalCredentials).toBe(Object.values(s.providers).reduce((n, p) => n + p.total, 0));
    const deactivated = (await creds().list(alpha, { provider: 'aws' })).data[0]!;
    await creds().update(alpha, deactivated.id, { isActive: false }, ACTOR);
    expect((await creds().summary(alpha)).providers.aws).toEqual({
      total: 1,
      active: 0,
      verified: 0,
    });
    await expect(
      creds().resolve({ clientId: alpha, provider: 'aws' }, ACTOR),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('hands nothing out for a suspended client, and again once reactivated', async () => {
    const c = (await h.services.clients.create({ name: 'Paused', email: 'p@example.com' }, ACTOR))
      .client.id;
    await creds().create(
      c,
      { provider: 'gemini', credentialName: 'g', credentials: { apiKey: secret('paused') } },
      ACTOR,
    );
    await h.services.clients.suspend(c, ACTOR);
    await expect(creds().resolve({ clientId: c, provider: 'gemini' }, ACTOR)).rejects.toMatchObject(
      { code: 'client_suspended' },
    );
    await h.services.clients.reactivate(c, ACTOR);
    expect((await creds().resolve({ clientId: c, provider: 'gemini' }, ACTOR)).source).toBe('byok');
  });

  it('deleting a client shreds every credential it had', async () => {
    const doomed = (
      await h.services.clients.create({ name: 'Doomed', email: 'd@example.com' }, ACTOR)
    ).client.id;
    for (const p of ['vultr', 'gemini'] as const) {
      await creds().create(
        doomed,
        { provider: p, credentialName: p, credentials: { apiKey: secret(p) } },
        ACTOR,
      );
    }
    await h.services.clients.delete(doomed, ACTOR);
    const rows = await h.services.store.db
      .selectFrom('credentials')
      .selectAll()
      .where('client_id', '=', doomed)
      .execute();
    expect(rows).toHaveLength(2);
    for (const r of rows)
      expect(r).toMatchObject({ wrapped_key: null, is_active: 0, deleted_at: expect.any(String) });
    await expect(
      creds().resolve({ clientId: doomed, provider: 'vultr' }, ACTOR),
    ).rejects.toMatchObject({ code: 'not_found' });
    await expect(
      creds().create(
        doomed,
        { provider: 'vultr', credentialName: 'again', credentials: { apiKey: 'k' } },
        ACTOR,
      ),
    ).rejects.toMatchObject({ code: 'not_found' });
  });

  it('never lets a plaintext secret reach the database, its files, the audit log or the logs', async () => {
    // Every write path a secret takes: create (camelCase and seed 03's snake_case), replace,
    // resolve (use counted and flushed), a refused duplicate, delete. The scan is scanForSecrets.
    const v = await creds().create(
      alpha,
      { provider: 'vultr', credentialName: 'v', credentials: { apiKey: secret('scan-v') } },
      ACTOR,
    );
    await creds().create(
      bravo,
      {
        provider: 'aws',
        credentialName: 'a',
        credentials: { access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: secret('s') },
      },
      ACTOR,
    );
    await creds().update(alpha, v.id, { credentials: { apiKey: secret('scan-v2') } }, ACTOR);
    await creds().resolve({ clientId: alpha, provider: 'vultr' }, ACTOR);
    await expect(
      creds().create(
        alpha,
        { provider: 'vultr', credentialName: 'v', credentials: { apiKey: secret('dup') } },
        ACTOR,
      ),
    ).rejects.toMatchObject({ code: 'conflict' });
    await creds().remove(alpha, v.id, ACTOR);
    expect(SECRETS.size).toBe(4);
    await scanForSecrets();
    // The scan can fail: a secret written in the clear is found.
    const leaked = secret('leaked');
    createLogger({ level: 'info', destination: h.logs.stream }).info({ leaked }, 'oops');
    await expect(scanForSecrets()).rejects.toThrow(/logs/);
    SECRETS.delete(leaked);
  });
});

describe.each(ENGINES)('master keys on %s', (engine) => {
  it('rewraps every data key under load; every credential stays readable throughout', async () => {
    const database = await createTestDatabase(engine);
    const oldKey = b64();
    const newKey = b64();
    const open = async (masterKeys: string) =>
      createHarness(engine, { database, env: { KEYPLANE_MASTER_KEYS: masterKeys } });
    const h1 = await open(`old:${oldKey}`);
    const owners: Array<{ client: string; id: string; apiKey: string; provider: string }> = [];
    try {
      for (let c = 0; c < 3; c++) {
        const client = (
          await h1.services.clients.create({ name: `C${c}`, email: `c${c}@example.com` }, ACTOR)
        ).client.id;
        for (let i = 0; i < 20; i++) {
          const apiKey = secret(`rw${c}-${i}`);
          const provider = (['vultr', 'gemini', 'exa', 'openai'] as const)[i % 4]!;
          const cred = await h1.services.credentials.create(
            client,
            { provider, credentialName: `k${i}`, credentials: { apiKey } },
            ACTOR,
          );
          owners.push({ client, id: cred.id, apiKey, provider });
        }
      }
    } finally {
      await h1.close();
    }
    // New key active, old key still present: rewrap while workers keep resolving.
    const h2 = await open(`old:${oldKey},*new:${newKey}`);
    try {
      expect(h2.services.keyring.activeId).toBe('new');
      await h2.services.credentials.checkKeyring();
      let stop = false;
      let resolved = 0;
      const workers = Array.from({ length: 4 }, async (_, w) => {
        let i = w;
        while (!stop) {
          const o = owners[i++ % owners.length]!;
          const r = await h2.services.credentials.resolve(
            { clientId: o.client, provider: o.provider, credentialId: o.id },
            ACTOR,
          );
          expect(r.credentials.apiKey).toBe(o.apiKey);
          // A cached resolve never waits on I/O: let the rewrap's queries run too.
          if (++resolved % 50 === 0) await new Promise((r) => setImmediate(r));
        }
      });
      const progress: number[] = [];
      const report = await h2.services.credentials.rewrap({
        batchSize: 7,
        onProgress: (d) => progress.push(d),
      });
      stop = true;
      await Promise.all(workers);
      expect(report).toMatchObject({ activeKeyId: 'new', total: 60, rewrapped: 60, failed: [] });
      expect(progress.at(-1)).toBe(60);
      expect(resolved).toBeGreaterThan(0);
      const keys = await h2.services.store.db
        .selectFrom('credentials')
        .select('master_key_id')
        .distinct()
        .execute();
      expect(keys.map((k) => k.master_key_id)).toEqual(['new']);
      // Nothing left to move.
      expect((await h2.services.credentials.rewrap()).total).toBe(0);
    } finally {
      await h2.close();
    }
    // The old key can now be retired; the new key alone opens everything.
    const h3 = await open(`new:${newKey}`);
    try {
      await h3.services.credentials.checkKeyring();
      for (const o of owners) {
        const r = await h3.services.credentials.resolve(
          { clientId: o.client, provider: o.provider, credentialId: o.id },
          ACTOR,
        );
        expect(r.credentials.apiKey).toBe(o.apiKey);
      }
    } finally {
      await h3.close();
    }
    // Only the old key: the start-up check names the missing one.
    const h4 = await open(`old:${oldKey}`);
    try {
      await expect(h4.services.credentials.checkKeyring()).rejects.toThrow(
        /wrapped with master key "new", which the keyring does not hold/,
      );
    } finally {
      await h4.close();
      await database.drop();
    }
  });

  it('refuses to start with the wrong master key, with a clear message and no secret echoed', async () => {
    const database = await createTestDatabase(engine);
    const right = b64();
    const wrong = b64();
    const logger = createLogger({ level: 'silent', destination: logCapture().stream });
    const env = (key: string) => testConfig(database, { env: { KEYPLANE_MASTER_KEY: key } });
    try {
      const first = await openRuntime(env(right), logger);
      const alpha = (await first.clients.create({ name: 'A', email: 'a@example.com' }, ACTOR))
        .client.id;
      await first.credentials.create(
        alpha,
        { provider: 'vultr', credentialName: 'v', credentials: { apiKey: secret('wrongkey') } },
        ACTOR,
      );
      await first.close();
      const err = await openRuntime(env(wrong), logger).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.name).toBe('ConfigError');
      expect(err?.message).toMatch(
        /KEYPLANE_MASTER_KEY: master key "default" is not the key this store was set up with/,
      );
      expect(err?.message).not.toContain(wrong);
      expect(err?.message).not.toContain(right);
      // The right key still starts.
      const again = await openRuntime(env(right), logger);
      await again.close();
    } finally {
      await database.drop();
    }
  });
});

describe('the master keyring syntax', () => {
  const cfg = (masterKeys: string) =>
    loadConfig({ KEYPLANE_MASTER_KEYS: masterKeys, KEYPLANE_DATA_DIR: '/nonexistent' }, '/');
  const [k1, k2] = [b64(), b64()];

  it('takes the first entry as active, or the one marked with *', () => {
    expect(loadKeyring(cfg(`a:${k1},b:${k2}`)).activeId).toBe('a');
    const marked = loadKeyring(cfg(`a:${k1},*b:${k2}`));
    expect(marked.activeId).toBe('b');
    expect([...marked.keys.keys()]).toEqual(['a', 'b']);
  });

  it('refuses two active marks, and never echoes a key', () => {
    expect(() => loadKeyring(cfg(`*a:${k1},*b:${k2}`))).toThrow(/only one entry may be marked/);
    try {
      loadKeyring(cfg(`*a:${k1},*b:${k2}`));
    } catch (err) {
      expect((err as Error).message).not.toContain(k1);
    }
  });
});

describe('development vs production (seed 04)', () => {
  const engine = ENGINES[0]!;
  afterAll(() => vi.unstubAllEnvs());

  it('development falls back to GEMINI_API_KEY with a log line; production never reads it', async () => {
    const devKey = secret('dev-gemini');
    vi.stubEnv('GEMINI_API_KEY', devKey);
    vi.stubEnv('EXA_API_KEY', '');
    const dev = await createHarness(engine, { env: { KEYPLANE_MODE: 'development' } });
    try {
      const client = (
        await dev.services.clients.create({ name: 'Dev', email: 'dev@example.com' }, ACTOR)
      ).client.id;
      const r = await dev.services.credentials.resolve(
        { clientId: client, provider: 'gemini' },
        ACTOR,
      );
      expect(r).toEqual({
        provider: 'gemini',
        policy: 'byok',
        source: 'environment',
        credentialId: null,
        credentials: { apiKey: devKey },
      });
      const line = dev.logs.lines.find((l) => l.includes('[development]'));
      expect(line).toContain('GEMINI_API_KEY');
      expect(dev.logs.text()).not.toContain(devKey);
      // A stored credential wins over the environment.
      const own = secret('stored-gemini');
      await dev.services.credentials.create(
        client,
        { provider: 'gemini', credentialName: 'g', credentials: { apiKey: own } },
        ACTOR,
      );
      expect(
        (await dev.services.credentials.resolve({ clientId: client, provider: 'gemini' }, ACTOR))
          .credentials.apiKey,
      ).toBe(own);
      // Nothing in the environment: still a 404.
      await expect(
        dev.services.credentials.resolve({ clientId: client, provider: 'exa' }, ACTOR),
      ).rejects.toMatchObject({ code: 'not_found' });
    } finally {
      await dev.close();
    }
    const prod = await createHarness(engine, { env: { KEYPLANE_MODE: 'production' } });
    try {
      const client = (
        await prod.services.clients.create({ name: 'Prod', email: 'p@example.com' }, ACTOR)
      ).client.id;
      await expect(
        prod.services.credentials.resolve({ clientId: client, provider: 'gemini' }, ACTOR),
      ).rejects.toMatchObject({ code: 'not_found' });
      expect(prod.logs.text()).not.toContain('GEMINI_API_KEY');
    } finally {
      await prod.close();
    }
  });
});
