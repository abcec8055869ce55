import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeProviders, type FakeProviders } from './support/fake-providers.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { dumpDatabase, sqliteFiles } from './support/secret-scan.ts';
import { ENGINES } from './support/stores.ts';

const rand = (label: string) => `${label}-${randomBytes(16).toString('hex')}`;

describe.each(ENGINES)('credentials over HTTP on %s', (engine) => {
  let fake: FakeProviders;
  let h: Harness;
  let a: { clientId: string; apiKey: string };
  let b: { clientId: string; apiKey: string };
  /** Every secret this test sent in; no answer but resolve's may ever carry one. */
  let secrets: string[];
  /** Every answer body of this test except resolve's. */
  let answers: string[];

  type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
  async function call(
    method: Method,
    url: string,
    headers: Record<string, string>,
    payload?: object,
  ) {
    const res = await h.app.inject({
      method,
      url,
      headers,
      remoteAddress: '192.0.2.44',
      ...(payload && { payload }),
    });
    if (!url.endsWith('/credentials/resolve')) answers.push(res.body);
    return res;
  }
  const asClient = (t: { apiKey: string }) => ({ 'x-api-key': t.apiKey });

  async function tenant(name: string) {
    const res = await call('POST', '/admin/v1/clients', h.adminHeaders, {
      name,
      email: `${name.toLowerCase()}@example.com`,
    });
    expect(res.statusCode).toBe(201);
    return { clientId: res.json().client.id as string, apiKey: res.json().apiKey as string };
  }

  // Every test starts from its own fake providers, server, database and two clients.
  beforeEach(async () => {
    secrets = [];
    answers = [];
    fake = await startFakeProviders();
    h = await createHarness(engine, {
      file: {
        providers: fake.providersConfig({
          gemini: { policy: 'byok' },
          openai: { policy: 'platform' },
        }),
      },
    });
    a = await tenant('Alpha');
    b = await tenant('Bravo');
  });
  afterEach(async () => {
    try {
      await scanForSecrets();
    } finally {
      await h?.close();
      await fake?.close();
    }
  });

  it("runs seed 03's flow: add, list metadata only, verify, summary, audit trail, delete", async () => {
    const vultrKey = rand('vultr');
    secrets.push(vultrKey);
    fake.acceptApiKey('vultr', vultrKey);
    const created = await call('POST', '/v1/credentials', asClient(a), {
      provider: 'vultr',
      credentialName: 'Production Vultr',
      credentials: { api_key: vultrKey },
      credentialType: 'api_key',
      permissions: 'read_only',
    });
    expect(created.statusCode).toBe(201);
    const cred = created.json();
    expect(cred).toMatchObject({
      clientId: a.clientId,
      provider: 'vultr',
      name: 'Production Vultr',
      type: 'api_key',
      permissions: 'read_only',
      isActive: true,
      isVerified: false,
      lastVerifiedAt: null,
      lastUsedAt: null,
      usageCount: 0,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const awsSecret = rand('aws');
    secrets.push(awsSecret);
    for (const name of ['Production AWS', 'Staging AWS']) {
      const r = await call('POST', '/v1/credentials', asClient(a), {
        provider: 'aws',
        credentialName: name,
        credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: awsSecret },
      });
      expect(r.statusCode).toBe(201);
      expect(r.json().type).toBe('access_key');
    }

    const list = await call('GET', '/v1/credentials', asClient(a));
    expect(list.statusCode).toBe(200);
    expect(list.json().data).toHaveLength(3);
    expect(
      (await call('GET', '/v1/credentials?provider=aws&limit=1', asClient(a))).json(),
    ).toMatchObject({
      data: [{ provider: 'aws' }],
      nextCursor: expect.any(String),
    });

    const verified = await call('POST', `/v1/credentials/${cred.id}/verify`, asClient(a));
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({
      id: cred.id,
      isVerified: true,
      lastVerifiedAt: expect.any(String),
      verification: { status: 'verified', attempts: 1 },
    });

    const summary = await call('GET', '/v1/credentials/summary', asClient(a));
    expect(summary.json()).toEqual({
      clientId: a.clientId,
      totalCredentials: 3,
      providers: {
        aws: { total: 2, active: 2, verified: 0 },
        vultr: { total: 1, active: 1, verified: 1 },
      },
    });

    const patched = await call('PATCH', `/v1/credentials/${cred.id}`, asClient(a), {
      credentialName: 'Vultr (prod)',
    });
    expect(patched.json()).toMatchObject({ name: 'Vultr (prod)', isVerified: true });

    const deleted = await call('DELETE', `/v1/credentials/${cred.id}`, asClient(a));
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({ isActive: false, deletedAt: expect.any(String) });
    expect((await call('GET', '/v1/credentials', asClient(a))).json().data).toHaveLength(2);

    const trail = await call('GET', `/v1/credentials/${cred.id}/audit`, asClient(a));
    expect(trail.statusCode).toBe(200);
    expect(trail.json().data.map((e: { action: string }) => e.action)).toEqual([
      'credential.deleted',
      'credential.updated',
      'credential.verified',
      'credential.created',
    ]);
    for (const e of trail.json().data) {
      expect(e).toMatchObject({
        actorType: 'client',
        actorId: expect.stringMatching(/^key_/),
        ip: '192.0.2.44',
      });
    }
  });

  it('answers a bad payload with 400 naming the field, never echoing the secret', async () => {
    const cases: Array<[object, RegExp]> = [
      [
        {
          provider: 'aws',
          credentialName: 'x',
          credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE' },
        },
        /credentials\.secretAccessKey/,
      ],
      [
        {
          provider: 'gcp',
          credentialName: 'x',
          credentials: { serviceAccountJson: '{"client_email":"x@y"}' },
        },
        /credentials\.serviceAccountJson\.private_key/,
      ],
      [
        {
          provider: 'azure',
          credentialName: 'x',
          credentials: {
            tenantId: 't.example.com',
            clientId: 'nope',
            clientSecret: 'super-secret-value',
          },
        },
        /credentials\.clientId/,
      ],
      [{ provider: 'martian', credentialName: 'x', credentials: {} }, /provider/],
      [{ provider: 'vultr', credentials: { apiKey: 'k' } }, /credentialName/],
      [
        {
          provider: 'vultr',
          credentialName: 'x',
          credentials: { apiKey: 'k' },
          permissions: 'god',
        },
        /permissions/,
      ],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/v1/credentials', asClient(a), body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
      expect(res.json().error.message).toMatch(field);
      expect(res.body).not.toContain('super-secret-value');
    }
  });

  it('needs credentials:read / credentials:write scopes on a client key', async () => {
    const limited = await call('POST', '/v1/keys', asClient(a), {
      name: 'reader',
      scopes: ['credentials:read'],
    });
    expect(limited.statusCode).toBe(201);
    const reader = { 'x-api-key': limited.json().apiKey as string };
    expect((await call('GET', '/v1/credentials', reader)).statusCode).toBe(200);
    const denied = await call('POST', '/v1/credentials', reader, {
      provider: 'exa',
      credentialName: 'nope',
      credentials: { apiKey: 'k' },
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('insufficient_scope');
    expect((await call('GET', '/v1/credentials', {})).statusCode).toBe(401);
  });

  it("keeps every credential route of A away from B's credentials (404, nothing changed)", async () => {
    const bKey = rand('bravo-gemini');
    secrets.push(bKey);
    const bCred = (
      await call('POST', '/v1/credentials', asClient(b), {
        provider: 'gemini',
        credentialName: 'Bravo Gemini',
        credentials: { apiKey: bKey },
      })
    ).json();
    const before = (await call('GET', `/v1/credentials/${bCred.id}`, asClient(b))).body;
    const routes: Array<[Method, string, object?]> = [
      ['GET', `/v1/credentials/${bCred.id}`],
      ['PATCH', `/v1/credentials/${bCred.id}`, { credentialName: 'stolen' }],
      ['PATCH', `/v1/credentials/${bCred.id}`, { credentials: { apiKey: 'attacker' } }],
      ['DELETE', `/v1/credentials/${bCred.id}`],
      ['POST', `/v1/credentials/${bCred.id}/verify`, {}],
      ['GET', `/v1/credentials/${bCred.id}/audit`],
      ['GET', `/admin/v1/credentials/${bCred.id}`],
      ['GET', `/admin/v1/clients/${a.clientId}/credentials/${bCred.id}`],
      ['DELETE', `/admin/v1/clients/${a.clientId}/credentials/${bCred.id}`],
    ];
    for (const [method, url, body] of routes) {
      const headers = url.startsWith('/admin') ? h.adminHeaders : asClient(a);
      const res = await call(method, url, headers, body);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().error.code).toBe('not_found');
      expect(res.body).not.toContain('Bravo');
    }
    for (const url of [
      '/v1/credentials',
      '/v1/credentials/summary',
      '/v1/credentials?includeDeleted=true',
    ]) {
      const res = await call('GET', url, asClient(a));
      expect(res.body).not.toContain(bCred.id);
      expect(res.body).not.toContain('gemini');
    }
    expect((await call('GET', `/v1/credentials/${bCred.id}`, asClient(b))).body).toBe(before);
    // The operator sees B's through the admin API.
    const viaAdmin = await call(
      'GET',
      `/admin/v1/clients/${b.clientId}/credentials`,
      h.adminHeaders,
    );
    expect(viaAdmin.json().data.map((c: { id: string }) => c.id)).toEqual([bCred.id]);
    // A worker resolving for A never gets B's key.
    const forA = await call('POST', '/admin/v1/credentials/resolve', h.adminHeaders, {
      clientId: a.clientId,
      provider: 'gemini',
    });
    expect(forA.statusCode).toBe(404);
    expect(forA.body).not.toContain(bKey);
    const wrongOwner = await call('POST', '/admin/v1/credentials/resolve', h.adminHeaders, {
      clientId: a.clientId,
      provider: 'gemini',
      credentialId: bCred.id,
    });
    expect(wrongOwner.statusCode).toBe(404);
  });

  it('platform credentials are the operator’s, resolved for workers per policy, audited as used', async () => {
    const opKey = rand('operator-openai');
    secrets.push(opKey);
    const p = await call('POST', '/admin/v1/credentials', h.adminHeaders, {
      provider: 'openai',
      credentialName: 'Server-held AI key',
      credentials: { apiKey: opKey },
    });
    expect(p.statusCode).toBe(201);
    expect(p.json().clientId).toBeNull();
    expect((await call('GET', '/admin/v1/credentials', h.adminHeaders)).json().data).toHaveLength(
      1,
    );
    // Clients never see platform credentials.
    expect((await call('GET', '/v1/credentials', asClient(a))).body).not.toContain(p.json().id);

    const resolved = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/credentials/resolve',
      headers: h.adminHeaders,
      remoteAddress: '192.0.2.45',
      payload: { clientId: a.clientId, provider: 'openai' },
    });
    expect(resolved.statusCode).toBe(200);
    expect(resolved.headers['cache-control']).toBe('no-store');
    expect(resolved.json()).toEqual({
      provider: 'openai',
      policy: 'platform',
      source: 'platform',
      credentialId: p.json().id,
      credentials: { apiKey: opKey },
    });
    // Uses reach the audit log as one entry per credential and actor per flush interval.
    await h.services.credentials.flushUsage();
    const used = await h.services.audit.list({ clientId: a.clientId, action: 'credential.used' });
    expect(used.data[0]).toMatchObject({
      actorType: 'admin',
      ip: '192.0.2.45',
      targetId: p.json().id,
      data: {
        source: 'platform',
        provider: 'openai',
        count: 1,
        firstRequestId: resolved.headers['x-request-id'],
        lastRequestId: resolved.headers['x-request-id'],
      },
    });
    await h.services.credentials.flushUsage();
    const after = await call('GET', `/admin/v1/credentials/${p.json().id}`, h.adminHeaders);
    expect(after.json()).toMatchObject({ usageCount: 1, lastUsedAt: expect.any(String) });

    // A token without credentials:resolve gets nothing.
    const { token } = await h.services.adminTokens.create({
      name: 'reader',
      scopes: ['credentials:read'],
      actor: { type: 'system', id: 'test' },
    });
    const refused = await call(
      'POST',
      '/admin/v1/credentials/resolve',
      { authorization: `Bearer ${token}` },
      {
        clientId: a.clientId,
        provider: 'openai',
      },
    );
    expect(refused.statusCode).toBe(403);
    expect(
      (await call('GET', '/admin/v1/credentials', { authorization: `Bearer ${token}` })).statusCode,
    ).toBe(200);
  });

  it('the operator manages a client’s credentials; deleting the client shreds them', async () => {
    const doomed = await tenant('Doomed');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    secrets.push(pem.split('\n')[5]!);
    const c = await call(
      'POST',
      `/admin/v1/clients/${doomed.clientId}/credentials`,
      h.adminHeaders,
      {
        provider: 'gcp',
        credentialName: 'Production GCP',
        credentials: {
          serviceAccountJson: JSON.stringify({
            client_email: 'x@p.iam.gserviceaccount.com',
            private_key: pem,
          }),
        },
      },
    );
    expect(c.statusCode).toBe(201);
    expect(c.json()).toMatchObject({ clientId: doomed.clientId, type: 'service_account' });
    const summary = await call(
      'GET',
      `/admin/v1/clients/${doomed.clientId}/credentials/summary`,
      h.adminHeaders,
    );
    expect(summary.json().providers.gcp).toEqual({ total: 1, active: 1, verified: 0 });
    expect(
      (await call('DELETE', `/admin/v1/clients/${doomed.clientId}`, h.adminHeaders)).statusCode,
    ).toBe(200);
    const row = await h.services.store.db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', c.json().id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ wrapped_key: null, is_active: 0 });
    expect(
      (
        await call(
          'GET',
          '/admin/v1/clients/client_000000000000000000000000/credentials',
          h.adminHeaders,
        )
      ).statusCode,
    ).toBe(404);
  });

  it('documents every credential route in OpenAPI', async () => {
    const spec = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const p of [
      '/v1/credentials',
      '/v1/credentials/summary',
      '/v1/credentials/{id}',
      '/v1/credentials/{id}/verify',
      '/v1/credentials/{id}/audit',
      '/admin/v1/credentials',
      '/admin/v1/credentials/resolve',
      '/admin/v1/clients/{id}/credentials/{credentialId}',
    ]) {
      expect(spec.paths[p], p).toBeDefined();
    }
  });

  /**
   * No answer, log line or stored value carries a secret sent so far: the rows of every table as
   * text on both engines, and on SQLite the database and WAL files byte for byte.
   */
  async function scanForSecrets() {
    await h.services.credentials.flushUsage();
    const logs = h.logs.text();
    const bodies = answers.join('\n');
    const rows = await dumpDatabase(h);
    const files = sqliteFiles(h);
    for (const s of secrets) {
      expect(bodies, 'answers').not.toContain(s);
      expect(logs, 'logs').not.toContain(s);
      expect(rows, 'stored rows').not.toContain(s);
      expect(files.includes(Buffer.from(s)), 'SQLite files').toBe(false);
    }
  }
  it('no answer, log line or stored byte carries a plaintext secret', async () => {
    const key = rand('scan');
    secrets.push(key);
    fake.acceptApiKey('vultr', key);
    const created = await call('POST', '/v1/credentials', asClient(b), {
      provider: 'vultr',
      credentialName: 'Scanned',
      credentials: { api_key: key },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    expect((await call('POST', `/v1/credentials/${id}/verify`, asClient(b))).statusCode).toBe(200);
    expect((await call('DELETE', `/v1/credentials/${id}`, asClient(b))).statusCode).toBe(200);
    // The scan reads real output: the request log of this very test is in it, on both engines.
    expect(h.logs.text()).toContain(`/v1/credentials/${id}/verify`);
    if (engine === 'sqlite') expect(sqliteFiles(h).length).toBeGreaterThan(0);
    await scanForSecrets();
    // And it can fail: a secret in a stored row is found.
    const leak = rand('leak');
    secrets.push(leak);
    await h.services.store.db
      .updateTable('credentials')
      .set({ name: leak })
      .where('id', '=', id)
      .execute();
    await expect(scanForSecrets()).rejects.toThrow(/stored rows/);
    secrets.pop();
  });
});
