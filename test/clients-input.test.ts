import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClientInput,
  importClientInput,
  listClientsFilter,
  suspendClientInput,
  updateClientInput,
} from '../src/clients/index.ts';
import { parseInput } from '../src/lib/parse-input.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { tempDir } from './support/keyplane-process.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/**
 * Issue 19: one schema per client input, shared by the HTTP routes, the CLI and an import. The
 * schema refuses bad input (here, and through both faces); the service trusts what it produced.
 */
describe('the clients input schemas', () => {
  const problem = (schema: typeof createClientInput | typeof updateClientInput, v: unknown) => {
    const parsed = schema.safeParse(v);
    return parsed.success
      ? null
      : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)[0];
  };

  it('trims a name and an e-mail address and keeps what the service stores', () => {
    expect(createClientInput.parse({ name: '  Acme  ', email: ' ops@acme.example ' })).toEqual({
      name: 'Acme',
      email: 'ops@acme.example',
    });
  });

  it('refuses each bad field, naming it', () => {
    const ok = { name: 'Acme', email: 'ops@acme.example' };
    expect(problem(createClientInput, { ...ok, name: '   ' })).toBe(
      'name: must be 1-200 characters',
    );
    expect(problem(createClientInput, { ...ok, name: 'x'.repeat(201) })).toBe(
      'name: must be 1-200 characters',
    );
    expect(problem(createClientInput, { ...ok, email: 'not-an-email' })).toBe(
      'email: must be an email address',
    );
    expect(problem(createClientInput, { ...ok, email: 'a@b.example;c@d.example' })).toBe(
      'email: must be an email address',
    );
    expect(problem(createClientInput, { ...ok, tier: 'Gold Plus' })).toBe(
      'tier: must be lowercase letters, digits, - or _',
    );
    expect(problem(createClientInput, { ...ok, metadata: { blob: 'x'.repeat(9000) } })).toBe(
      'metadata: must be at most 8 KiB of JSON',
    );
    expect(problem(createClientInput, { ...ok, environment: 'prod' })).toBe(
      'environment: must be live or test',
    );
    expect(
      problem(createClientInput, { ...ok, defaultRateLimit: { limit: 0, windowSeconds: 1 } }),
    ).toMatch(/^defaultRateLimit\.limit: /);
    expect(problem(createClientInput, { ...ok, currency: 'EUR' })).toMatch(/currency/);
    expect(problem(createClientInput, { email: 'ops@acme.example' })).toMatch(/^name: /);
  });

  it('takes a partial update, a null rate limit removing it, and refuses the same bad fields', () => {
    expect(updateClientInput.parse({ tier: 'pro', defaultRateLimit: null })).toEqual({
      tier: 'pro',
      defaultRateLimit: null,
    });
    expect(updateClientInput.parse({})).toEqual({});
    expect(problem(updateClientInput, { email: 'nope' })).toBe('email: must be an email address');
    expect(problem(updateClientInput, { name: '' })).toBe('name: must be 1-200 characters');
    expect(problem(updateClientInput, { status: 'deleted' })).toMatch(/status/);
  });

  it('the suspension reason, the list filter and an import row have their own', () => {
    expect(suspendClientInput.safeParse({ reason: 'x'.repeat(501) }).success).toBe(false);
    expect(listClientsFilter.safeParse({ status: 'gone' }).success).toBe(false);
    expect(listClientsFilter.parse({ status: 'suspended', search: 'acme' })).toEqual({
      status: 'suspended',
      search: 'acme',
    });
    const row = { name: 'Old', email: 'old@acme.example', createdAt: '2024-01-02T03:04:05Z' };
    expect(importClientInput.parse(row)).toEqual(row);
    expect(() => parseInput(importClientInput, { ...row, createdAt: 'yesterday' })).toThrow(
      'createdAt: must be a valid time',
    );
    let refused: unknown;
    try {
      parseInput(importClientInput, { ...row, email: 'old' });
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({
      code: 'validation_failed',
      message: 'email: must be an email address',
    });
  });
});

describe.each(ENGINES)('client input refused at the faces on %s', (engine) => {
  let h: Harness;
  let env: Record<string, string>;
  beforeAll(async () => {
    h = await createHarness(engine);
    env = {
      KEYPLANE_DATABASE_URL: h.config.databaseUrl,
      KEYPLANE_DATA_DIR: h.database.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: join(h.database.dir, 'keyplane.config.json'),
    };
  });
  afterAll(async () => h?.close());

  const names = async () =>
    (await h.services.clients.list({ limit: 1000 })).data.map((c) => c.name);

  it('over HTTP: 400 validation_failed naming the field, nothing created or changed', async () => {
    const bodies: Array<[Record<string, unknown>, string]> = [
      [{ name: 'Http', email: 'http@acme.example', tier: 'Gold Plus' }, 'tier'],
      [{ name: 'Http', email: 'not-an-email' }, 'email'],
      [{ name: '   ', email: 'http@acme.example' }, 'name'],
      [{ name: 'Http', email: 'http@acme.example', metadata: { b: 'x'.repeat(9000) } }, 'metadata'],
    ];
    for (const [payload, field] of bodies) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/clients',
        headers: h.adminHeaders,
        payload,
      });
      expect(res.statusCode, field).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
      expect(res.json().error.message).toContain(`${field}: must be`);
    }
    expect(await names()).not.toContain('Http');

    const { client } = await h.services.clients.create(
      { name: 'Kept', email: 'kept@acme.example' },
      { type: 'system', id: 'test' },
    );
    const patch = await h.app.inject({
      method: 'PATCH',
      url: `/admin/v1/clients/${client.id}`,
      headers: h.adminHeaders,
      payload: { tier: 'NOT OK' },
    });
    expect(patch.statusCode).toBe(400);
    expect(patch.json().error.message).toContain('tier: must be');
    expect((await h.services.clients.get(client.id)).tier).toBe('default');
  });

  it('from the CLI: exit 1 with one error line naming the flag, nothing created', async () => {
    const cases: Array<[string[], string]> = [
      [['--name', 'Cli', '--email', 'nope'], 'error: --email: must be an email address'],
      [
        ['--name', 'Cli', '--email', 'cli@acme.example', '--tier', 'Gold'],
        'error: --tier: must be',
      ],
      [
        ['--name', 'Cli', '--email', 'cli@acme.example', '--env', 'prod'],
        'error: --env must be live or test',
      ],
      [['--name', ' ', '--email', 'cli@acme.example'], 'error: --name: must be 1-200 characters'],
      [
        ['--name', 'Cli', '--email', 'cli@acme.example', '--meta', '[1]'],
        'error: --meta must be a JSON object',
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await runKeyplaneInProcess(['clients', 'create', ...flags], { env });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.split('\n')[0]).toContain(message);
      expect(r.stdout).toBe('');
    }
    expect(await names()).not.toContain('Cli');
    const list = await runKeyplaneInProcess(['clients', 'list', '--status', 'gone'], { env });
    expect(list.code).toBe(1);
    expect(list.stderr).toContain('error: --status: must be active, suspended or deleted');
  });

  it('usage errors come before the store is opened', async () => {
    // No database configured at all: a usage error still answers 1, not a config error (2).
    const r = await runKeyplaneInProcess(['clients', 'update', 'client_x', '--email', 'nope'], {
      cwd: tempDir('kp-clients-input-'),
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe('error: --email: must be an email address\n');
  });
});
