import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Actor } from '../src/audit/audit-types.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import {
  addOptiinfraCredential,
  buildOptiinfraSource,
  optiinfraSchema,
  sourceDatabase,
  type OptiinfraSource,
} from './support/import-sources.ts';
import { ENGINES } from './support/stores.ts';

const actor: Actor = { type: 'system', id: 'import-test' };
const pgAdmin = inject('postgresUrl');
const UNDECRYPTABLE =
  'cannot be decrypted with the given key (a wrong CREDENTIAL_ENCRYPTION_KEY, or damaged data)';

/** Seed 03's source is PostgreSQL with pgcrypto whatever Keyplane's own engine is. */
describe.skipIf(!pgAdmin)('import of seed 03 (OptiInfra PostgreSQL credentials)', () => {
  describe.each(ENGINES)('into Keyplane on %s', (engine) => {
    let h: Harness;
    let src: OptiinfraSource;
    const key = `opti-${randomBytes(24).toString('base64url')}`;
    const secretsOf = () => [key, src.secrets.vultr, src.secrets.awsKeyId, src.secrets.awsSecret];
    const clientByName = async (name: string) =>
      (await h.services.clients.list({})).data.find((c) => c.name === name)!;

    beforeAll(async () => {
      h = await createHarness(engine);
      src = await buildOptiinfraSource(pgAdmin!, key);
    });
    afterAll(async () => {
      await src?.drop();
      await h?.close();
    });

    it('the wrong decryption key is refused row by row and nothing is imported', async () => {
      const report = await h.services.imports.optiinfraPostgres(src.url, 'not-the-key', { actor });
      expect(report.imported).toEqual({});
      expect(report.failed).toHaveLength(2 + 3 + 5);
      const creds = report.failed.filter((f) => f.entity === 'credential');
      expect(creds.map((f) => f.message)).toEqual([UNDECRYPTABLE, UNDECRYPTABLE, UNDECRYPTABLE]);
      expect(report.failed.find((f) => f.entity === 'client')?.message).toBe(
        'not imported: the decryption key opens none of the credentials',
      );
      expect((await h.services.clients.list({})).data).toHaveLength(0);
      for (const s of secretsOf()) expect(JSON.stringify(report)).not.toContain(s);
    });

    it('a dry run reports what it would import and writes nothing', async () => {
      const report = await h.services.imports.optiinfraPostgres(src.url, key, {
        actor,
        dryRun: true,
      });
      expect(report).toMatchObject({
        imported: { client: 2, credential: 3, audit: 5 },
        failed: [],
      });
      expect((await h.services.clients.list({})).data).toHaveLength(0);
    });

    it('keyplane import optiinfra-postgres reads the key from stdin and never prints it', async () => {
      const env = { KEYPLANE_DATABASE_URL: h.database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
      const args = ['import', 'optiinfra-postgres', '--from', src.url];
      const none = await runKeyplaneInProcess(args, { env, input: '' });
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('no decryption key on stdin');
      const res = await runKeyplaneInProcess([...args, '--json'], { env, input: `${key}\n` });
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({
        kind: 'optiinfra-postgres',
        imported: { client: 2, credential: 3, audit: 5 },
        failed: [],
      });
      for (const s of secretsOf()) {
        expect(res.stdout + res.stderr).not.toContain(s);
        expect(h.logs.text()).not.toContain(s);
      }
    });

    it('customers become clients; credentials keep their metadata, state and counters', async () => {
      const acme = await clientByName('Acme Cloud');
      expect(acme).toMatchObject({
        email: 'ops@acme.example',
        tier: 'professional',
        status: 'active',
        createdAt: '2025-10-01T09:00:00.000Z',
      });
      expect(await clientByName('Beta Labs')).toMatchObject({ tier: 'starter', status: 'active' });
      const listed = (await h.services.credentials.list(acme.id)).data;
      expect(listed.find((c) => c.name === 'Production Vultr')).toMatchObject({
        provider: 'vultr',
        type: 'api_key',
        permissions: 'read_only',
        fields: ['apiKey'],
        isActive: true,
        isVerified: true,
        lastVerifiedAt: '2025-10-29T10:05:00.000Z',
        lastUsedAt: '2025-10-30T08:00:00.000Z',
        usageCount: 42,
        createdAt: '2025-10-29T10:00:00.000Z',
      });
      expect(listed.find((c) => c.name === 'Old Vultr')).toMatchObject({ isActive: false });
      const res = await h.app.inject({
        method: 'GET',
        url: `/admin/v1/clients/${acme.id}/credentials`,
        headers: h.adminHeaders,
      });
      expect(res.statusCode, res.body).toBe(200);
      for (const s of secretsOf()) expect(res.body).not.toContain(s);
    });

    it('an imported credential resolves to the original plaintext', async () => {
      const acme = await clientByName('Acme Cloud');
      const beta = await clientByName('Beta Labs');
      const vultr = await h.services.credentials.resolve(
        { clientId: acme.id, provider: 'vultr' },
        actor,
      );
      expect(vultr.credentials).toEqual({ apiKey: src.secrets.vultr });
      const aws = await h.services.credentials.resolve(
        { clientId: beta.id, provider: 'aws' },
        actor,
      );
      expect(aws.credentials).toEqual({
        accessKeyId: src.secrets.awsKeyId,
        secretAccessKey: src.secrets.awsSecret,
      });
    });

    it('the old audit log is imported history on the credential trail; the chain verifies', async () => {
      const acme = await clientByName('Acme Cloud');
      const cred = (await h.services.credentials.list(acme.id)).data.find(
        (c) => c.name === 'Production Vultr',
      )!;
      const trail = (await h.services.credentials.auditTrail(acme.id, cred.id)).data;
      const imported = trail.filter((e) => e.data.imported === true).reverse();
      expect(imported.map((e) => [e.action, e.data.occurredAt, e.data.details])).toEqual([
        ['credential.created', '2025-10-29T10:00:00.000Z', "Credential 'Production Vultr' created"],
        ['credential.verified', '2025-10-29T10:05:00.000Z', 'verified against the Vultr API'],
        ['credential.used', '2025-10-30T08:00:00.000Z', 'cost collection'],
      ]);
      expect(imported[0]!.data).toMatchObject({ ip: '203.0.113.5', importedFrom: 'optiinfra' });
      expect(trail.some((e) => e.action === 'credential.imported')).toBe(true);
      const chain = await h.services.audit.verify();
      expect(chain).toMatchObject({ ok: true });
      const all = JSON.stringify((await h.services.audit.list({ limit: 1000 })).data);
      for (const s of secretsOf()) expect(all).not.toContain(s);
    });

    it('a second run imports nothing new', async () => {
      const report = await h.services.imports.optiinfraPostgres(src.url, key, { actor });
      expect(report).toMatchObject({
        imported: {},
        skipped: { client: 2, credential: 3, audit: 5 },
        failed: [],
      });
    });

    it('bad rows are refused one by one; the rest is imported', async () => {
      const db = await sourceDatabase(pgAdmin!);
      try {
        await db.client.query(optiinfraSchema(false));
        const [c1, c2, missing] = [
          'c1000000-0000-4000-8000-000000000001',
          'c1000000-0000-4000-8000-000000000002',
          'c1000000-0000-4000-8000-0000000000ff',
        ];
        await db.client.query(
          `INSERT INTO customers (id, email, company_name, created_at) VALUES
           ($1, 'one@bad.example', 'One', '2025-01-01'), ($1, 'again@bad.example', 'One again', '2025-01-02'),
           ($2, 'two@bad.example', 'Two', '2025-01-03')`,
          [c1, c2],
        );
        const cred = (id: string, customer: string, at: string, over: Record<string, unknown>) =>
          addOptiinfraCredential(db.client, key, {
            id,
            customer_id: customer,
            provider: 'vultr',
            credential_name: `cred ${id.slice(-2)}`,
            created_at: at,
            credentials: { api_key: 'VULTRGOODKEY00000001' },
            ...over,
          });
        const id = (n: number) => `d1000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`;
        await cred(id(1), c1, '2025-02-01', {});
        await cred(id(2), missing, '2025-02-02', {});
        await cred(id(3), c1, '2025-02-03', { credential_name: 'cred 01' });
        await cred(id(4), c2, '2025-02-04', { credentials: 'not json' });
        await cred(id(5), c2, '2025-02-05', { provider: 'digitalocean' });
        await cred(id(1), c2, '2025-02-06', {});
        // Sealed under another key: this row alone is refused.
        await db.client.query(
          `INSERT INTO cloud_credentials (id, customer_id, provider, credential_name, encrypted_credentials, created_at)
           VALUES ($1, $2, 'vultr', 'other key', pgp_sym_encrypt('{"api_key":"VULTROTHERKEY0000001"}', 'another-key'), '2025-02-07')`,
          [id(7), c2],
        );
        await db.client.query(
          `INSERT INTO credential_audit_log (id, credential_id, customer_id, action, created_at) VALUES
           ($1, $5, $7, 'created', '2025-03-01'), ($2, $6, $7, 'created', '2025-03-02'),
           ($3, $8, $7, 'created', '2025-03-03'), ($4, $5, $7, 'rotated', '2025-03-04'),
           ($9, $5, $10, 'used', '2025-03-05'), ($1, $5, $7, 'used', '2025-03-06')`,
          [id(11), id(12), id(13), id(14), id(1), id(2), c1, id(99), id(15), c2],
        );
        // A dry run opens each secret too: it already names the rows that do not open.
        const dry = await h.services.imports.optiinfraPostgres(db.url, key, {
          actor,
          source: `bad-${engine}`,
          dryRun: true,
        });
        expect(dry.failed.filter((f) => f.entity === 'credential').map((f) => f.sourceId)).toEqual([
          id(1),
          id(2),
          id(4),
          id(7),
        ]);
        const report = await h.services.imports.optiinfraPostgres(db.url, key, {
          actor,
          source: `bad-${engine}`,
        });
        const problems = report.failed.map((f) => `${f.entity} ${f.sourceId}: ${f.message}`);
        expect(problems).toEqual([
          `client ${c1}: duplicate client row (same id as an earlier row)`,
          `credential ${id(1)}: duplicate credential row (same id as an earlier row)`,
          `credential ${id(2)}: customer ${missing} does not exist in the source`,
          `credential ${id(3)}: a vultr credential named "cred 01" already exists`,
          `credential ${id(4)}: the decrypted credentials are not JSON`,
          `credential ${id(5)}: provider: must be one of vultr, aws, gcp, azure, gemini, openai, anthropic, exa, copilotkit, generic`,
          `credential ${id(7)}: ${UNDECRYPTABLE}`,
          `audit ${id(11)}: duplicate audit row (same id as an earlier row)`,
          `audit ${id(12)}: credential ${id(2)} was not imported`,
          `audit ${id(13)}: credential ${id(99)} does not exist in the source`,
          `audit ${id(14)}: action "rotated" is not one of created, updated, deleted, verified, used, failed`,
          `audit ${id(15)}: customer_id is not the credential's customer`,
        ]);
        expect(report.imported).toEqual({ client: 2, credential: 1, audit: 1 });
        // A refused row left nothing behind: Two has no credential at all.
        const two = await clientByName('Two');
        expect((await h.services.credentials.list(two.id)).data).toHaveLength(0);
        expect(JSON.stringify(report)).not.toContain('VULTR');
        expect(JSON.stringify(report)).not.toContain(key);
      } finally {
        await db.drop();
      }
    });

    it('a table with unknown columns is refused row by row', async () => {
      const odd = await buildOptiinfraSource(pgAdmin!, key);
      try {
        await odd.client.query('ALTER TABLE credential_audit_log ADD COLUMN user_agent TEXT');
        const report = await h.services.imports.optiinfraPostgres(odd.url, key, {
          actor,
          source: `odd-${engine}`,
          dryRun: true,
        });
        expect(report.imported).toEqual({ client: 2, credential: 3 });
        expect(report.failed).toHaveLength(5);
        expect(new Set(report.failed.map((f) => f.message))).toEqual(
          new Set(['credential_audit_log: unknown column(s) user_agent']),
        );
      } finally {
        await odd.drop();
      }
    });
  });
});
