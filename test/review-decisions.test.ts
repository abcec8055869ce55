import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/** Decisions taken on the review's open findings, each pinned by a test that failed before its fix. */
describe.each(ENGINES)('review decisions on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  async function adminToken(scopes: string[]): Promise<{ id: string; token: string }> {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: `t-${scopes.join('-')}`, scopes },
    });
    expect(res.statusCode).toBe(201);
    return { id: res.json().adminToken.id as string, token: res.json().token as string };
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  describe('admin token revocation', () => {
    it('a token cannot revoke a token holding scopes it lacks (no denial of service on admin)', async () => {
      const narrow = await adminToken(['tokens:write']);
      const full = await adminToken(['admin']);
      const wider = await adminToken(['tokens:write', 'credentials:resolve']);
      for (const target of [full, wider]) {
        const res = await h.app.inject({
          method: 'POST',
          url: `/admin/v1/admin-tokens/${target.id}/revoke`,
          headers: bearer(narrow.token),
        });
        expect(res.statusCode, target.id).toBe(403);
        expect(res.json().error.code).toBe('insufficient_scope');
        // The target still works.
        const still = await h.app.inject({
          method: 'GET',
          url: '/admin/v1/admin-tokens',
          headers: bearer(target.token),
        });
        expect(still.statusCode).toBe(200);
        expect(still.json().data.find((t: { id: string }) => t.id === target.id).status).toBe(
          'active',
        );
      }
      // No audit entry for the refused attempts.
      const audit = await h.services.audit.list({ action: 'admin_token.revoked', limit: 1000 });
      expect(audit.data.map((e) => e.targetId)).not.toContain(full.id);
    });

    it('a token may revoke a token whose scopes it holds, itself included; admin revokes anything', async () => {
      const narrow = await adminToken(['tokens:write', 'audit:read']);
      const peer = await adminToken(['tokens:write']);
      const ok = await h.app.inject({
        method: 'POST',
        url: `/admin/v1/admin-tokens/${peer.id}/revoke`,
        headers: bearer(narrow.token),
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().adminToken.status).toBe('revoked');

      const wide = await adminToken(['tokens:write', 'credentials:resolve']);
      const byAdmin = await h.app.inject({
        method: 'POST',
        url: `/admin/v1/admin-tokens/${wide.id}/revoke`,
        headers: h.adminHeaders,
      });
      expect(byAdmin.statusCode).toBe(200);

      const self = await h.app.inject({
        method: 'POST',
        url: `/admin/v1/admin-tokens/${narrow.id}/revoke`,
        headers: bearer(narrow.token),
      });
      expect(self.statusCode).toBe(200);
      expect(self.json().adminToken.status).toBe('revoked');
    });

    it('an unknown token id is still 404, whatever the caller holds', async () => {
      const narrow = await adminToken(['tokens:write']);
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/admin-tokens/adm_doesnotexist/revoke',
        headers: bearer(narrow.token),
      });
      expect(res.statusCode).toBe(404);
    });
  });

  describe('client detail and key metadata', () => {
    it('GET /clients/{id} includes keys only for a token that also holds keys:read (or admin)', async () => {
      const created = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/clients',
        headers: h.adminHeaders,
        payload: { name: 'Keyed', email: 'keyed@example.com' },
      });
      expect(created.statusCode).toBe(201);
      const clientId = created.json().client.id as string;
      const keyId = created.json().key.id as string;
      const keyStart = created.json().key.start as string;

      const clientsOnly = await adminToken(['clients:read']);
      const res = await h.app.inject({
        method: 'GET',
        url: `/admin/v1/clients/${clientId}`,
        headers: bearer(clientsOnly.token),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().client.id).toBe(clientId);
      expect(res.json()).not.toHaveProperty('keys');
      expect(res.body).not.toContain(keyId);
      expect(res.body).not.toContain(keyStart);

      for (const token of [(await adminToken(['clients:read', 'keys:read'])).token, null]) {
        const withKeys = await h.app.inject({
          method: 'GET',
          url: `/admin/v1/clients/${clientId}`,
          headers: token ? bearer(token) : h.adminHeaders,
        });
        expect(withKeys.statusCode).toBe(200);
        expect(withKeys.json().keys.map((k: { id: string }) => k.id)).toEqual([keyId]);
      }

      // The OpenAPI document says when keys are present.
      const spec = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const schema =
        spec.paths['/admin/v1/clients/{id}'].get.responses['200'].content['application/json']
          .schema;
      expect(schema.required).not.toContain('keys');
      expect(schema.properties.keys.description).toMatch(/keys:read/);
    });
  });

  describe("a client's credential audit trail", () => {
    it('shows an operator as operator only (no admin token id, no IP); the admin view keeps full detail', async () => {
      const operator = await adminToken(['admin']);
      const OPERATOR_IP = '198.51.100.77';
      const CLIENT_IP = '192.0.2.44';
      const created = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/clients',
        headers: h.adminHeaders,
        payload: { name: 'Vaulted', email: 'vaulted@example.com' },
      });
      const clientId = created.json().client.id as string;
      const keyId = created.json().key.id as string;
      const asClient = { 'x-api-key': created.json().apiKey as string };

      const cred = await h.app.inject({
        method: 'POST',
        url: '/v1/credentials',
        headers: asClient,
        remoteAddress: CLIENT_IP,
        payload: {
          provider: 'vultr',
          credentialName: 'Vultr',
          credentials: { api_key: 'vultr-secret-0123456789' },
          credentialType: 'api_key',
        },
      });
      expect(cred.statusCode).toBe(201);
      const credId = cred.json().id as string;

      // The operator acts on the client's credential: renames it, then a worker resolves it.
      const patched = await h.app.inject({
        method: 'PATCH',
        url: `/admin/v1/clients/${clientId}/credentials/${credId}`,
        headers: bearer(operator.token),
        remoteAddress: OPERATOR_IP,
        payload: { credentialName: 'Vultr (ops)' },
      });
      expect(patched.statusCode).toBe(200);
      const resolved = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/credentials/resolve',
        headers: bearer(operator.token),
        remoteAddress: OPERATOR_IP,
        payload: { clientId, provider: 'vultr', credentialId: credId },
      });
      expect(resolved.statusCode).toBe(200);
      // Uses are audited in batches (one credential.used entry per flush interval): flush now.
      await h.services.credentials.flushUsage();
      // And the system acts on it (a background process, not an admin token).
      await h.services.audit.record({
        actor: { type: 'system', id: 'rewrap' },
        action: 'credential.checked',
        targetType: 'credential',
        targetId: credId,
        clientId,
      });

      const trail = await h.app.inject({
        method: 'GET',
        url: `/v1/credentials/${credId}/audit`,
        headers: asClient,
        remoteAddress: CLIENT_IP,
      });
      expect(trail.statusCode).toBe(200);
      expect(trail.body).not.toContain(operator.id);
      expect(trail.body).not.toContain(OPERATOR_IP);
      expect(trail.body).not.toContain('rewrap');
      const rows = trail.json().data as Record<string, unknown>[];
      expect(rows.map((e) => e.action)).toEqual([
        'credential.checked',
        'credential.used',
        'credential.updated',
        'credential.created',
      ]);
      expect(rows[0]).toEqual(
        expect.objectContaining({ action: 'credential.checked', actorType: 'system' }),
      );
      for (const e of rows.slice(1, 3)) expect(e.actorType).toBe('operator');
      for (const e of rows.slice(0, 3)) {
        expect(e).not.toHaveProperty('actorId');
        expect(e).not.toHaveProperty('ip');
      }
      // The client's own act keeps its key id (and its own IP).
      expect(rows[3]).toMatchObject({ actorType: 'client', actorId: keyId, ip: CLIENT_IP });

      // The admin route shows the same trail in full.
      const full = await h.app.inject({
        method: 'GET',
        url: `/admin/v1/clients/${clientId}/credentials/${credId}/audit`,
        headers: h.adminHeaders,
      });
      expect(full.statusCode).toBe(200);
      const fullRows = full.json().data as Record<string, unknown>[];
      expect(fullRows.slice(1, 3)).toEqual([
        expect.objectContaining({ actorType: 'admin', actorId: operator.id, ip: OPERATOR_IP }),
        expect.objectContaining({ actorType: 'admin', actorId: operator.id, ip: OPERATOR_IP }),
      ]);
      expect(fullRows[0]).toMatchObject({ actorType: 'system', actorId: 'rewrap' });
    });
  });
});
