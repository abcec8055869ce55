import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProviders, type FakeProviders } from './support/fake-providers.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { tempDir } from './support/keyplane-process.ts';

/** `keyplane credentials …` (in-process, test/support/cli.ts) on a real SQLite store. */
describe('keyplane credentials (CLI)', () => {
  let fake: FakeProviders;
  const dir = tempDir('kp-cred-cli-');
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  const vultrKey = `vultr-${randomBytes(16).toString('hex')}`;
  const outputs: string[] = [];
  let env: Record<string, string>;
  let clientId = '';
  let credId = '';

  async function kp(args: string[], opts: { input?: string; masterKeys?: string } = {}) {
    const r = await runKeyplaneInProcess(args, {
      cwd: dir,
      input: opts.input,
      env: { ...env, KEYPLANE_MASTER_KEYS: opts.masterKeys ?? env.KEYPLANE_MASTER_KEYS! },
    });
    outputs.push(r.stdout, r.stderr);
    return r;
  }

  beforeAll(async () => {
    fake = await startFakeProviders();
    fake.acceptApiKey('vultr', vultrKey);
    const config = join(dir, 'keyplane.config.json');
    writeFileSync(config, JSON.stringify({ providers: fake.providersConfig() }));
    env = {
      KEYPLANE_DATA_DIR: join(dir, 'data'),
      KEYPLANE_MASTER_KEYS: `old:${oldKey}`,
      KEYPLANE_CONFIG: config,
    };
    const created = await kp([
      'clients',
      'create',
      '--name',
      'Collector',
      '--email',
      'c@example.com',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    clientId = JSON.parse(created.stdout).client.id;
  });
  afterAll(async () => fake?.close());

  it('adds a credential from stdin, never from an argument', async () => {
    const r = await kp(
      [
        'credentials',
        'add',
        '--client',
        clientId,
        '--provider',
        'vultr',
        '--name',
        'Production Vultr',
        '--json',
      ],
      { input: JSON.stringify({ api_key: vultrKey }) },
    );
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c).toMatchObject({ provider: 'vultr', name: 'Production Vultr', fields: ['apiKey'] });
    credId = c.id;
    const empty = await kp([
      'credentials',
      'add',
      '--client',
      clientId,
      '--provider',
      'vultr',
      '--name',
      'x',
    ]);
    // Bad input is a usage error: exit 1 (README, CLI exit codes); a bad keyring below is 2.
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/secret is empty/);
    const notJson = await kp(
      ['credentials', 'add', '--client', clientId, '--provider', 'vultr', '--name', 'x'],
      {
        input: 'apiKey=hunter2-not-json',
      },
    );
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).not.toContain('hunter2');
    const bad = await kp(
      ['credentials', 'add', '--client', clientId, '--provider', 'aws', '--name', 'x'],
      {
        input: '{"accessKeyId":"AKIAIOSFODNN7EXAMPLE"}',
      },
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/credentials\.secretAccessKey/);
  });

  it('adds a GCP key file as it is, with --from-file', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = join(dir, 'sa.json');
    writeFileSync(
      file,
      JSON.stringify({
        type: 'service_account',
        client_email: 'collector@p.iam.gserviceaccount.com',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      }),
    );
    const r = await kp([
      'credentials',
      'add',
      '--client',
      clientId,
      '--provider',
      'gcp',
      '--name',
      'GCP',
      '--from-file',
      file,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      provider: 'gcp',
      type: 'service_account',
      fields: ['serviceAccountJson'],
    });
  });

  it('lists, verifies against the provider, and summarizes', async () => {
    const list = await kp(['credentials', 'list', '--client', clientId, '--json']);
    expect(JSON.parse(list.stdout).data).toHaveLength(2);
    const human = await kp(['credentials', 'list', '--client', clientId]);
    expect(human.stdout).toMatch(/Production Vultr/);
    const v = await kp(['credentials', 'verify', credId, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({
      isVerified: true,
      verification: { status: 'verified' },
    });
    const sum = await kp(['credentials', 'summary', '--client', clientId, '--json']);
    expect(JSON.parse(sum.stdout).providers.vultr).toEqual({ total: 1, active: 1, verified: 1 });
  });

  it('rewraps every data key to the active master key, printing progress', async () => {
    const both = `old:${oldKey},*new:${newKey}`;
    const r = await kp(['credentials', 'rewrap', '--batch', '1'], { masterKeys: both });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rewrapped 1\/2\nrewrapped 2\/2/);
    expect(r.stdout).toMatch(/2 of 2 data key\(s\) now wrapped with master key "new"/);
    const again = await kp(['credentials', 'rewrap', '--json'], { masterKeys: both });
    expect(JSON.parse(again.stdout)).toMatchObject({ activeKeyId: 'new', total: 0, rewrapped: 0 });
    // The new key alone opens everything; the old key alone no longer starts.
    const ok = await kp(['credentials', 'verify', credId, '--json'], {
      masterKeys: `new:${newKey}`,
    });
    expect(ok.code, ok.stderr).toBe(0);
    const stale = await kp(['credentials', 'list', '--client', clientId], {
      masterKeys: `old:${oldKey}`,
    });
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/wrapped with master key "new", which the keyring does not hold/);
    // Same id, another key: refused at start.
    const wrong = await kp(['credentials', 'list', '--client', clientId], {
      masterKeys: `new:${randomBytes(32).toString('base64')}`,
    });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/master key "new" is not the key this store was set up with/);
    env.KEYPLANE_MASTER_KEYS = `new:${newKey}`;
  });

  it('deletes (shreds) and never prints or stores a secret', async () => {
    const d = await kp(['credentials', 'delete', credId]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/shredded/);
    const show = await kp(['credentials', 'show', credId, '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({
      isActive: false,
      deletedAt: expect.any(String),
    });
    const db = join(dir, 'data', 'keyplane.db');
    const bytes = Buffer.concat([db, `${db}-wal`].filter(existsSync).map((f) => readFileSync(f)));
    expect(bytes.includes(Buffer.from(vultrKey))).toBe(false);
    expect(outputs.join('\n')).not.toContain(vultrKey);
  });
});
