import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/** Findings of the security review, each pinned by a test that failed before its fix. */
describe.each(ENGINES)('security review on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  async function adminToken(scopes: string[]): Promise<string> {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: `t-${scopes.join('-')}`, scopes },
    });
    expect(res.statusCode).toBe(201);
    return res.json().token as string;
  }

  it('an admin token cannot create a token with scopes it does not hold', async () => {
    const narrow = await adminToken(['tokens:write']);
    const headers = { authorization: `Bearer ${narrow}` };
    for (const payload of [
      { name: 'escalate', scopes: ['admin'] },
      { name: 'escalate', scopes: ['tokens:write', 'credentials:resolve'] },
      { name: 'escalate-by-default' },
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/admin-tokens',
        headers,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(403);
      expect(res.json().error.code).toBe('insufficient_scope');
    }
    const list = await h.app.inject({ method: 'GET', url: '/admin/v1/admin-tokens', headers });
    expect(list.json().data.filter((t: { name: string }) => t.name.startsWith('escalate'))).toEqual(
      [],
    );
    // What it holds it may hand on.
    const ok = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers,
      payload: { name: 'peer', scopes: ['tokens:write'] },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().adminToken.scopes).toEqual(['tokens:write']);
    // A full admin token still grants anything.
    const full = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
      payload: { name: 'full' },
    });
    expect(full.json().adminToken.scopes).toEqual(['admin']);
  });
});
