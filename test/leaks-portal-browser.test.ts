import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium } from './support/browser.ts';
import { ensureDashboardBuilt } from './support/dashboard-build.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import {
  bootstrapToken,
  startKeyplane,
  tempDir,
  type ServeProcess,
} from './support/keyplane-process.ts';
import { githubRequest, partnerKey } from './support/leaks.ts';

/**
 * Leak policy `roll` end to end: a signed GitHub report rolls a client's key on a real
 * `keyplane serve`; the client signs in to the portal (Chromium) with another key, is told a key
 * was rolled, and sees the replacement once — it works, and it is never shown again.
 */
describe.skipIf(!haveChromium)('a rolled key shown once in the client portal', () => {
  const gh = partnerKey('portal');
  let server: ServeProcess;
  let browser: Browser;
  let admin: Record<string, string>;

  beforeAll(async () => {
    await ensureDashboardBuilt();
    const cwd = tempDir('kp-leak-portal-');
    const configFile = join(cwd, 'keyplane.config.json');
    writeFileSync(
      configFile,
      JSON.stringify({ leaks: { policy: 'roll', github: { publicKeys: [gh.config] } } }),
    );
    const env = { KEYPLANE_MASTER_KEY: TEST_MASTER_KEY, KEYPLANE_CONFIG: configFile };
    server = await startKeyplane({ cwd, env });
    admin = {
      authorization: `Bearer ${bootstrapToken(server)}`,
      'content-type': 'application/json',
    };
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('tells the client, shows the replacement once, and it works', async () => {
    const post = (path: string, body: unknown) =>
      fetch(server.url + path, { method: 'POST', headers: admin, body: JSON.stringify(body) }).then(
        (r) => r.json() as Promise<{ apiKey: string; client: { id: string } }>,
      );
    const created = await post('/admin/v1/clients', { name: 'Rolled Co', email: 'r@example.com' });
    const leaked = created.apiKey;
    const portalKey = (
      await post(`/admin/v1/clients/${created.client.id}/keys`, { name: 'portal', scopes: ['*'] })
    ).apiKey;
    const report = githubRequest([{ token: leaked, url: 'https://github.com/x/y' }], gh);
    const res = await fetch(server.url + report.url, {
      method: 'POST',
      headers: report.headers,
      body: report.payload,
    });
    expect(res.status).toBe(200);
    expect(
      (await fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': leaked } })).status,
    ).toBe(401);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Client — API key' }).click();
    await page.getByLabel('API key').fill(portalKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /Rolled Co/ }).waitFor();
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByText('1 key was found exposed and rolled.').waitFor();
    await page.getByRole('button', { name: 'Show the replacement' }).click();
    const secret = (await page.getByTestId('one-time-secret').textContent())!.trim();
    expect(secret).toMatch(/^kp_live_[0-9A-Za-z]{49}$/);
    expect(
      (await fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': secret } })).status,
    ).toBe(200);

    await page.getByRole('button', { name: /dismiss/ }).click();
    await page.reload();
    await page.getByText('(this session)').waitFor();
    expect(await page.getByText('found exposed and rolled').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    await context.close();
  }, 120_000);
});
