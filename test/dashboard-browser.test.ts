import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { haveChromium, launchChromium } from './support/browser.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDashboardBuilt } from './support/dashboard-build.ts';
import { startFakeProviders, type FakeProviders } from './support/fake-providers.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { buildPermasSource } from './support/import-sources.ts';
import { startKeyplane, tempDir, type ServeProcess } from './support/keyplane-process.ts';

/**
 * The web dashboard end to end: a real `keyplane serve` (SQLite, its own data dir, providers
 * pointed at loopback fakes) driven by Chromium. The operator signs in with the bootstrap
 * token printed on first start, creates a client and sees its key once, suspends and
 * reactivates it; the client signs in with that key, sees its usage, adds, verifies and
 * deletes a Vultr credential, and signs out. Nothing secret is left in the browser.
 */

const BOOTSTRAP = /bootstrap admin token[\s\S]*?\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/;

/** What the page keeps that another script on the origin could read. */
async function browserStorage(page: Page) {
  // A string: the test's own types have no DOM.
  return page.evaluate<{ local: number; session: number; cookie: string }>(
    '({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })',
  );
}

describe.skipIf(!haveChromium)('web dashboard in Chromium', () => {
  let server: ServeProcess;
  let fake: FakeProviders;
  let browser: Browser;
  let adminToken: string;
  let cwd: string;

  beforeAll(async () => {
    await ensureDashboardBuilt();
    fake = await startFakeProviders();
    cwd = tempDir('kp-dash-');
    const configFile = join(cwd, 'keyplane.config.json');
    writeFileSync(
      configFile,
      // The scheduled run is off: the test runs invoicing from the page, and a scheduled check
      // between saving the billing details and the click would issue the invoice first.
      JSON.stringify({
        providers: fake.providersConfig(),
        pricing: { 'GET /v1/health': '0.01' },
        billing: { schedule: 'off' },
      }),
    );
    server = await startKeyplane({
      cwd,
      env: { KEYPLANE_MASTER_KEY: TEST_MASTER_KEY, KEYPLANE_CONFIG: configFile },
    });
    adminToken = BOOTSTRAP.exec(server.stdout())![1]!;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.close();
  });

  it('operator and client flows, with no secret kept in the browser', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    const cspViolations: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text()))
        cspViolations.push(m.text());
    });
    // Every API call the dashboard makes carries the dashboard header and no header credential.
    const apiRequests: Array<{ url: string; headers: Record<string, string> }> = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (/^\/(v1|admin\/v1|dashboard\/api)\//.test(path))
        apiRequests.push({ url: path, headers: r.headers() });
    });

    // --- operator ---
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Operator — admin token' }).click();
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Clients' }).waitFor();
    expect(await page.getByTestId('session-name').textContent()).toBe('bootstrap');
    expect(await page.getByLabel('Admin token').count()).toBe(0);

    // The session is an HttpOnly, SameSite=Strict cookie that scripts cannot read.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'kp_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(session!.value).not.toContain(adminToken);
    let storage = await browserStorage(page);
    expect(storage).toEqual({ local: 0, session: 0, cookie: '' });

    const name = `Acme ${randomBytes(3).toString('hex')}`;
    await page.getByRole('button', { name: 'New client' }).click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Email').fill('ops@acme.example');
    await page.getByRole('button', { name: 'Create client' }).click();
    const secretBox = page.getByTestId('one-time-secret');
    await secretBox.waitFor();
    const apiKey = (await secretBox.textContent())!.trim();
    expect(apiKey).toMatch(/^kp_live_[0-9A-Za-z]{49}$/);
    await expect
      .poll(() => page.getByRole('region', { name: 'New secret' }).textContent())
      .toContain('only time it is shown');
    await page.getByRole('button', { name: /dismiss/ }).click();
    expect(await secretBox.count()).toBe(0);
    expect(await page.content()).not.toContain(apiKey);

    // The new client is listed with its one active key; search finds it. Search asks the
    // server, so a client created after the page loaded is found too, and the others go.
    const other = await fetch(`${server.url}/admin/v1/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Other Industries', email: 'other@example.com' }),
    });
    expect(other.status).toBe(201);
    const otherRow = page.getByRole('row', { name: /Other Industries/ });
    const row = page.getByRole('row', { name: new RegExp(name) });
    await page.getByLabel('Search clients').fill('OTHER indus');
    await expect.poll(() => otherRow.count()).toBe(1);
    expect(await row.count()).toBe(0);
    await page.getByLabel('Search clients').fill(name.slice(5));
    await expect.poll(() => row.textContent()).toContain('1 / 1');
    expect(await otherRow.count()).toBe(0);
    await page.getByRole('link', { name }).click();
    await page.getByRole('heading', { name: new RegExp(name) }).waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/clients\/client_/);

    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Suspend' }).click();
    await page.getByRole('heading', { name: new RegExp(`${name} suspended`) }).waitFor();
    const suspended = await fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': apiKey } });
    expect(suspended.status).toBe(403);
    expect(((await suspended.json()) as { error: { code: string } }).error.code).toBe(
      'client_suspended',
    );

    await page.getByRole('button', { name: 'Reactivate' }).click();
    await page.getByRole('heading', { name: new RegExp(`${name} active`) }).waitFor();
    expect(
      (await fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': apiKey } })).status,
    ).toBe(200);

    // Billing details, set on the client's page: invoiced even without usage.
    const clientId = new URL(page.url()).pathname.split('/')[2]!;
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const billing = page.getByRole('region', { name: 'Billing details' });
    await expect.poll(() => billing.textContent()).toContain('Not set');
    await billing.getByRole('button', { name: 'Edit billing details' }).click();
    await billing.getByLabel('Payment method').selectOption('sepa_debit');
    await billing.getByLabel('Company name').fill('Acme GmbH');
    await billing.getByLabel('VAT ID').fill('DE123456789');
    await billing.getByLabel('Invoice without usage').selectOption('true');
    await billing.getByRole('button', { name: 'Save billing details' }).click();
    await expect.poll(() => billing.getByRole('status').textContent()).toContain('saved');
    const shown = (await billing.locator('dl').textContent()) ?? '';
    expect(shown).toContain('SEPA direct debit');
    expect(shown).toContain('Acme GmbH · VAT DE123456789');
    expect(await billing.getByRole('button', { name: 'Save billing details' }).count()).toBe(0);
    const details = await fetch(`${server.url}/admin/v1/clients/${clientId}/payment-details`, {
      headers: admin,
    });
    expect(((await details.json()) as { paymentDetails: unknown }).paymentDetails).toMatchObject({
      method: 'sepa_debit',
      frequency: 'weekly',
      billingEmail: null,
      company: { name: 'Acme GmbH', address: null, vatId: 'DE123456789' },
      invoiceWhenEmpty: true,
    });

    // The client's own details, edited on its page: tier and a default rate limit.
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    const edit = page.getByRole('form', { name: 'Edit client' });
    await edit.getByLabel('Tier').fill('gold');
    await edit.getByLabel('Default rate limit, calls (empty: none)').fill('600');
    await edit.getByLabel('per seconds').fill('60');
    await edit.getByRole('button', { name: 'Save client' }).click();
    await expect.poll(() => edit.count()).toBe(0);
    await expect
      .poll(() => page.locator('dl.details').first().textContent())
      .toContain('600 / 60s');
    expect(await page.locator('dl.details').first().textContent()).toContain('gold');
    const edited = await fetch(`${server.url}/admin/v1/clients/${clientId}`, { headers: admin });
    expect(((await edited.json()) as { client: unknown }).client).toMatchObject({
      name,
      email: 'ops@acme.example',
      tier: 'gold',
      defaultRateLimit: { limit: 600, windowSeconds: 60 },
    });

    // The invoice run, from the Invoices page: last week's invoice, issued even without usage.
    await page.getByRole('link', { name: 'Invoices', exact: true }).click();
    await page.getByRole('heading', { name: 'Invoices', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Run invoicing' }).click();
    await expect
      .poll(() => page.getByTestId('run-result').textContent())
      .toMatch(/: 1 issued, 0 already there, of 1 clients due\.$/);
    const invoices = (await (
      await fetch(`${server.url}/admin/v1/invoices?clientId=${clientId}`, { headers: admin })
    ).json()) as { data: Array<{ number: string }> };
    const invoiceNumber = invoices.data[0]!.number;
    // Every client's invoices, with the client's name.
    const listed = page.getByRole('row', { name: new RegExp(invoiceNumber) });
    await expect.poll(() => listed.textContent()).toContain(name);
    // Run again: nothing new.
    await page.getByRole('button', { name: 'Run invoicing' }).click();
    await expect
      .poll(() => page.getByTestId('run-result').textContent())
      .toMatch(/: 0 issued, 1 already there, of 1 clients due\.$/);
    await page.goBack();
    await page.getByRole('heading', { name: new RegExp(name) }).waitFor();

    // A reload of a dashboard path lands on the same page (the server falls back to index.html).
    await page.reload();
    await page.getByRole('heading', { name: new RegExp(name) }).waitFor();
    const invoiceRow = page.getByRole('row', { name: new RegExp(invoiceNumber) });
    await invoiceRow.getByRole('button', { name: 'Open' }).click();
    // The printable page opens in a sandboxed frame (no script of its own runs).
    const frame = page.frameLocator(`iframe[title="Invoice ${invoiceNumber}"]`);
    await expect.poll(() => frame.locator('body').textContent()).toContain(invoiceNumber);
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    await invoiceRow.getByRole('button', { name: 'Mark paid' }).click();
    await expect.poll(() => invoiceRow.locator('.badge').textContent()).toBe('paid');
    await page.getByRole('heading', { name: new RegExp(name) }).waitFor();
    // The audit panel shows what the operator just did.
    await expect
      .poll(() => page.locator('section', { hasText: 'Audit log' }).textContent())
      .toContain('client.reactivate');

    // Usage across clients: the new client's call after reactivation shows on the Usage page
    // (calls flush in batches: refresh until it does), priced by the config's 0.01 a call.
    await page.getByRole('link', { name: 'Usage', exact: true }).click();
    await page.getByRole('heading', { name: 'Usage', exact: true }).waitFor();
    const usageRow = page
      .getByRole('region', { name: 'Usage by client' })
      .getByRole('row', { name: new RegExp(name) });
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          return usageRow.count();
        },
        { timeout: 15_000, interval: 500 },
      )
      .toBe(1);
    const cells = usageRow.getByRole('cell');
    const calls = Number(await cells.nth(1).textContent());
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(await cells.nth(3).textContent()).toBe((calls * 0.01).toFixed(2));
    await usageRow.getByRole('link', { name }).click();
    await page.getByRole('heading', { name: new RegExp(name) }).waitFor();

    // Platform credentials (the operator's own, seed 01): add a Vultr key and verify it.
    const platformKey = `VULTR${randomBytes(12).toString('hex').toUpperCase()}`;
    fake.acceptApiKey('vultr', platformKey);
    const vultrHits = fake.hits('vultr');
    await page.getByRole('link', { name: 'Credentials', exact: true }).click();
    await page.getByRole('heading', { name: 'Platform credentials', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Add credential' }).click();
    await page.getByLabel('Provider').selectOption('vultr');
    await page.getByLabel('Credential name').fill('Platform Vultr');
    await page.getByLabel('API key').fill(platformKey);
    await page.getByRole('button', { name: 'Store credential' }).click();
    const platformRow = page.getByTestId('credential-Platform Vultr');
    await platformRow.waitFor();
    expect(await page.content()).not.toContain(platformKey);
    await platformRow.getByRole('button', { name: 'Verify' }).click();
    await expect.poll(() => platformRow.locator('.badge-verified').count()).toBe(1);
    expect(fake.hits('vultr')).toBeGreaterThan(vultrHits);
    const platformList = (await (
      await fetch(`${server.url}/admin/v1/credentials`, { headers: admin })
    ).json()) as { data: Array<{ name: string; clientId: string | null }> };
    expect(platformList.data).toEqual([
      expect.objectContaining({ name: 'Platform Vultr', clientId: null }),
    ]);

    // Admin tokens: one for reports (two read scopes), shown once, working, then revoked.
    await page.getByRole('link', { name: 'Admin tokens', exact: true }).click();
    await page.getByRole('heading', { name: 'Admin tokens', level: 1 }).waitFor();
    await expect
      .poll(() => page.getByTestId('admin-token-bootstrap').textContent())
      .toContain('admin');
    await page.getByRole('button', { name: 'New admin token' }).click();
    const tokenForm = page.getByRole('form', { name: 'New admin token' });
    await tokenForm.getByLabel('Name').fill('Reports');
    await tokenForm.getByLabel('clients:read', { exact: true }).check();
    await tokenForm.getByLabel('usage:read', { exact: true }).check();
    await tokenForm.getByRole('button', { name: 'Create admin token' }).click();
    await secretBox.waitFor();
    const reportToken = (await secretBox.textContent())!.trim();
    expect(reportToken).toMatch(/^kpadm_live_[0-9A-Za-z]{49}$/);
    await page.getByRole('button', { name: /dismiss/ }).click();
    expect(await page.content()).not.toContain(reportToken);
    const reports = page.getByTestId('admin-token-Reports');
    await expect.poll(() => reports.textContent()).toContain('clients:read, usage:read');
    const asReports = (method: 'GET' | 'POST') =>
      fetch(`${server.url}/admin/v1/clients`, {
        method,
        headers: { authorization: `Bearer ${reportToken}`, 'content-type': 'application/json' },
        body: method === 'POST' ? JSON.stringify({ name: 'X', email: 'x@example.com' }) : undefined,
      });
    expect((await asReports('GET')).status).toBe(200);
    expect((await asReports('POST')).status).toBe(403);
    await reports.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await expect.poll(() => reports.locator('.badge').textContent()).toBe('revoked');
    expect((await asReports('GET')).status).toBe(401);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect((await context.cookies()).find((c) => c.name === 'kp_session')).toBeUndefined();

    // --- client ---
    await page.getByRole('tab', { name: 'Client — API key' }).click();
    await page.getByLabel('API key').fill(apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: new RegExp(name) }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/portal');

    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': apiKey } });
      expect(r.status).toBe(200);
    }
    // Usage is flushed in batches: refresh until the calls show (the health calls above and
    // the one made during suspension's check, plus the dashboard's own).
    const totals = page.getByTestId('usage-totals');
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          const text = (await totals.textContent()) ?? '';
          return Number(/(\d+)\s*calls/.exec(text)?.[1] ?? 0);
        },
        { timeout: 15_000, interval: 500 },
      )
      .toBeGreaterThanOrEqual(4);
    expect(await totals.textContent()).toMatch(/EUR/);

    // Its invoices, the printable page included.
    await page.getByRole('link', { name: 'Invoices' }).click();
    const ownInvoice = page.getByRole('row', { name: new RegExp(invoiceNumber) });
    await expect.poll(() => ownInvoice.locator('.badge').textContent()).toBe('paid');
    expect(await ownInvoice.getByRole('button', { name: 'Mark paid' }).count()).toBe(0);
    await ownInvoice.getByRole('button', { name: 'Open' }).click();
    await expect
      .poll(() =>
        page.frameLocator(`iframe[title="Invoice ${invoiceNumber}"]`).locator('body').textContent(),
      )
      .toContain(invoiceNumber);
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();

    // Keys page: the signed-in key is listed (its start, never the key).
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByText('(this session)').waitFor();
    expect(await page.content()).not.toContain(apiKey);

    // Credentials (seed 03): add, verify against the fake Vultr, delete.
    const vultrKey = `VULTR${randomBytes(12).toString('hex').toUpperCase()}`;
    fake.acceptApiKey('vultr', vultrKey);
    await page.getByRole('link', { name: 'Credentials' }).click();
    await page.getByRole('button', { name: 'Add credential' }).click();
    await page.getByLabel('Provider').selectOption('vultr');
    await page.getByLabel('Credential name').fill('Production Vultr');
    await page.getByLabel('API key').fill(vultrKey);
    await page.getByRole('button', { name: 'Store credential' }).click();
    const credRow = page.getByTestId('credential-Production Vultr');
    await credRow.waitFor();
    expect(await credRow.textContent()).toContain('vultr');
    expect(await page.content()).not.toContain(vultrKey);
    await credRow.getByRole('button', { name: 'Verify' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('verified');
    await expect.poll(() => credRow.locator('.badge-verified').count()).toBe(1);
    expect(fake.hits('vultr')).toBeGreaterThan(0);
    await credRow.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete credential' }).click();
    await expect.poll(() => credRow.count()).toBe(0);
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Deleted');

    storage = await browserStorage(page);
    expect(storage).toEqual({ local: 0, session: 0, cookie: '' });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect((await context.cookies()).find((c) => c.name === 'kp_session')).toBeUndefined();
    storage = await browserStorage(page);
    expect(storage).toEqual({ local: 0, session: 0, cookie: '' });

    expect(apiRequests.length).toBeGreaterThan(10);
    for (const r of apiRequests) {
      expect(r.headers['x-keyplane-dashboard'], r.url).toBe('1');
      expect(r.headers['authorization'], r.url).toBeUndefined();
      expect(r.headers['x-api-key'], r.url).toBeUndefined();
    }
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
    await context.close();
  });

  it('shows a refused sign-in plainly, from the error envelope', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Client — API key' }).click();
    await page.getByLabel('API key').fill(`kp_live_${'0'.repeat(49)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/unauthorized/);
    expect(await alert.textContent()).toMatch(/request req_/);
    // The refused key is not kept in the form.
    expect(await page.getByLabel('API key').inputValue()).toBe('');
    await page.close();
  });

  it('marks imported legacy keys and says how many are still active', async () => {
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const made = await fetch(`${server.url}/admin/v1/clients`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'Legacy Co', email: 'legacy@example.com' }),
    });
    const clientId = ((await made.json()) as { client: { id: string } }).client.id;
    const src = buildPermasSource(tempDir('kp-dash-permas-'));
    const imported = await runKeyplaneInProcess(
      ['import', 'permas-keys', src.path, '--client', `provider123=${clientId}`],
      {
        cwd,
        env: {
          KEYPLANE_DATABASE_URL: `sqlite:${join(cwd, 'data', 'keyplane.db')}`,
          KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
        },
      },
    );
    src.db.close();
    expect(imported.code).toBe(1); // provider456's key has no client here
    await expect
      .poll(
        async () =>
          (await fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': src.tokens.test } }))
            .status,
      )
      .toBe(200);

    const page = await browser.newPage();
    await page.goto(server.url);
    await page.getByRole('tab', { name: 'Operator — admin token' }).click();
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Clients' }).waitFor();
    const notice = page.getByTestId('legacy-keys');
    await expect.poll(() => notice.textContent()).toContain('3 imported legacy keys still active');
    expect(await notice.textContent()).toContain('4 imported in all');
    await page.getByRole('link', { name: 'Legacy Co' }).click();
    await page.getByRole('heading', { name: /Legacy Co/ }).waitFor();
    const legacyRows = page.getByRole('row').filter({ has: page.locator('.badge-legacy') });
    await expect.poll(() => legacyRows.count()).toBe(4);
    // The client's own first key is not legacy.
    expect(await page.getByRole('row').filter({ hasText: 'kp_live_' }).count()).toBe(1);
    await page.close();
  });
});
