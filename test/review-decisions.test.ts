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
});
