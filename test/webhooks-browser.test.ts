import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium } from './support/browser.ts';
import { ensureDashboardBuilt } from './support/dashboard-build.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { startKeyplane, tempDir, type ServeProcess } from './support/keyplane-process.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

/**
 * The dashboard's webhook pages end to end: a real `keyplane serve`, a real loopback receiver
 * and Chromium. The operator, then a client in its portal, adds an endpoint (the secret shown
 * once), an event is caused, the delivered message and its attempt show up in the page, and a
 * replay arrives under the same webhook-id; then filter, disable, roll and delete.
 */

const BOOTSTRAP = /bootstrap admin token[\s\S]*?\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/;
const nowS = () => Math.floor(Date.now() / 1000);

describe.skipIf(!haveChromium)('webhook pages in Chromium', () => {
  let server: ServeProcess;
  let browser: Browser;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let admin: Record<string, string>;
  let adminToken: string;

  beforeAll(async () => {
    await ensureDashboardBuilt();
    rx = await startReceiver();
    const cwd = tempDir('kp-hooks-ui-');
    const configFile = join(cwd, 'keyplane.config.json');
    writeFileSync(configFile, JSON.stringify({ billing: { schedule: 'off' } }));
    server = await startKeyplane({
      cwd,
      // Development mode: a loopback http endpoint is allowed.
      env: {
        KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
        KEYPLANE_CONFIG: configFile,
        KEYPLANE_MODE: 'development',
      },
    });
    adminToken = BOOTSTRAP.exec(server.stdout())![1]!;
    admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await rx?.close();
  });

  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(server.url + path, {
      method,
      headers: admin,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.ok, `${method} ${path}`).toBe(true);
    return (await res.json()) as T;
  };
  const newClient = (name: string) =>
    call<{ client: { id: string }; apiKey: string }>('POST', '/admin/v1/clients', {
      name,
      email: `${name.toLowerCase().replace(/\W/g, '')}@example.com`,
    });
  const suspend = (id: string) =>
    call('POST', `/admin/v1/clients/${id}/suspend`, { reason: 'unpaid' });
  const reactivate = (id: string) =>
    fetch(`${server.url}/admin/v1/clients/${id}/reactivate`, {
      method: 'POST',
      headers: { authorization: admin.authorization! },
    });

  async function signIn(page: Page, tab: string, label: string, secret: string) {
    await page.goto(server.url);
    await page.getByRole('tab', { name: tab }).click();
    await page.getByLabel(label).fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('session-name').waitFor();
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  }

  /** Adds an endpoint for `events` in the page; returns the secret it showed once. */
  async function addEndpoint(page: Page, description: string, events: string[]) {
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('form', { name: 'Add endpoint' });
    await form.getByLabel('Endpoint URL').fill(rx.url);
    await form.getByLabel('Description').fill(description);
    for (const e of events) await form.getByRole('checkbox', { name: e }).check();
    await form.getByRole('button', { name: 'Create endpoint' }).click();
    const box = page.getByTestId('one-time-secret');
    await box.waitFor();
    const secret = (await box.textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole('button', { name: /dismiss/ }).click();
    expect(await box.count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    return secret;
  }

  /** Clicks Refresh until the message's row says `text`. */
  async function messageRow(page: Page, id: string, text: string): Promise<Locator> {
    const row = page.getByTestId(`message-${id}`);
    const messages = page.getByRole('region', { name: 'Webhook messages' });
    await expect
      .poll(
        async () => {
          await messages.getByRole('button', { name: 'Refresh', exact: true }).click();
          return (await row.count()) ? row.textContent() : '';
        },
        { timeout: 20_000 },
      )
      .toContain(text);
    return row;
  }

  /** Opens a message's attempts, replays it, and waits for the replay to arrive and show. */
  async function seeAttemptsAndReplay(page: Page, id: string, secret: string) {
    const row = await messageRow(page, id, 'delivered');
    await row.getByRole('button', { name: 'Attempts' }).click();
    const attempts = page.getByRole('region', { name: `Attempts of ${id}` });
    const first = attempts.locator('tbody tr');
    await expect.poll(() => first.count()).toBe(1);
    const text = (await first.textContent())!;
    expect(text).toContain('delivered');
    expect(text).toContain('200');
    expect(text).toMatch(/\d+ ms/);
    expect(text).toContain('answer 200'); // the receiver's response excerpt

    const before = rx.received.length;
    await attempts.getByRole('button', { name: 'Replay' }).click();
    await expect
      .poll(() => attempts.getByRole('status').textContent())
      .toContain('same webhook-id');
    await rx.waitFor(() => rx.received.length > before);
    const again = rx.received[before]!;
    expect(again.headers['webhook-id']).toBe(id);
    expect(standardWebhooksVerify(secret, again.headers, again.body, nowS())).toBe(true);
    await expect
      .poll(
        async () => {
          await attempts.getByRole('button', { name: 'Refresh attempts' }).click();
          return attempts.locator('tbody tr').count();
        },
        { timeout: 20_000 },
      )
      .toBe(2);
  }

  it('operator: add, see the delivery and its attempt, replay, filter, disable, roll, delete', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await signIn(page, 'Operator — admin token', 'Admin token', adminToken);
    const secret = await addEndpoint(page, 'ops alerts', ['client.suspended']);
    const endpoints = page.getByRole('region', { name: 'Webhook endpoints' });
    const row = endpoints.getByRole('row', { name: /ops alerts/ });
    await expect.poll(() => row.textContent()).toContain('client.suspended');
    expect(await row.textContent()).toContain('enabled');

    // An event: a client suspended through the API; the receiver gets it, signed.
    const before = rx.received.length;
    const c = await newClient('Hooked Op Co');
    await suspend(c.client.id);
    await rx.waitFor(() => rx.received.length > before);
    const got = rx.received[before]!;
    expect(standardWebhooksVerify(secret, got.headers, got.body, nowS())).toBe(true);
    const id = String(got.headers['webhook-id']);
    await seeAttemptsAndReplay(page, id, secret);

    // The event filter: client.reactivated added, saved and listed.
    await row.getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('form', { name: 'Edit endpoint' });
    await edit.getByRole('checkbox', { name: 'client.reactivated' }).check();
    await edit.getByRole('button', { name: 'Save endpoint' }).click();
    await expect.poll(() => row.textContent()).toContain('client.suspended, client.reactivated');

    // Disabled: a new event is written to the log but not sent to it.
    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.locator('.badge').textContent()).toBe('disabled');
    const epId = (await row.getAttribute('data-testid'))!.replace('endpoint-', '');
    const listed = await call<{ endpoint: { enabled: boolean } }>(
      'GET',
      `/admin/v1/webhooks/endpoints/${epId}`,
    );
    expect(listed.endpoint.enabled).toBe(false);
    await row.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => row.locator('.badge').textContent()).toBe('enabled');

    // Roll: a new secret, shown once; both sign during the grace period.
    await row.getByRole('button', { name: 'Roll secret' }).click();
    const box = page.getByTestId('one-time-secret');
    await box.waitFor();
    const rolled = (await box.textContent())!.trim();
    expect(rolled).toMatch(/^whsec_/);
    expect(rolled).not.toBe(secret);
    await page.getByRole('button', { name: /dismiss/ }).click();
    const mark = rx.received.length;
    expect((await reactivate(c.client.id)).status).toBe(200);
    await rx.waitFor(() => rx.received.length > mark);
    const signed = rx.received[mark]!;
    expect(standardWebhooksVerify(rolled, signed.headers, signed.body, nowS())).toBe(true);
    expect(standardWebhooksVerify(secret, signed.headers, signed.body, nowS())).toBe(true);

    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete endpoint' }).click();
    await expect.poll(() => row.count()).toBe(0);
    const gone = await fetch(`${server.url}/admin/v1/webhooks/endpoints/${epId}`, {
      headers: admin,
    });
    expect(gone.status).toBe(404);
    expect(await page.content()).not.toContain(rolled);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it('client portal: its own endpoint and messages only, with attempts and replay', async () => {
    const c = await newClient('Hooked Portal Co');
    // An operator endpoint also gets the client's events: the portal must not show it.
    const op = await call<{ endpoint: { id: string } }>('POST', '/admin/v1/webhooks/endpoints', {
      url: `${rx.url}?operator`,
      eventTypes: ['client.reactivated'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await signIn(page, 'Client — API key', 'API key', c.apiKey);
    expect(new URL(page.url()).pathname).toBe('/portal/webhooks');
    const secret = await addEndpoint(page, 'my hook', []);
    const endpoints = page.getByRole('region', { name: 'Webhook endpoints' });
    await expect
      .poll(() => endpoints.getByRole('row', { name: /my hook/ }).textContent())
      .toContain('every event');
    expect(await endpoints.locator('tbody tr').count()).toBe(1);

    // Suspended and reactivated: the client's own endpoint gets both; the page shows them.
    const before = rx.received.length;
    await suspend(c.client.id);
    expect((await reactivate(c.client.id)).status).toBe(200);
    await rx.waitFor(() =>
      rx.received
        .slice(before)
        .some((r) => JSON.parse(r.body).type === 'client.reactivated' && verifies(r)),
    );
    function verifies(r: (typeof rx.received)[number]) {
      return standardWebhooksVerify(secret, r.headers, r.body, nowS());
    }
    const mine = rx.received.slice(before).filter(verifies);
    const reactivated = mine.find((r) => JSON.parse(r.body).type === 'client.reactivated')!;
    const id = String(reactivated.headers['webhook-id']);
    const row = await messageRow(page, id, 'delivered');
    // One delivery line: the operator's endpoint got it too, but is not the client's to see.
    expect(await row.locator('td').nth(3).locator('div').count()).toBe(1);
    expect(await page.content()).not.toContain(op.endpoint.id);
    await seeAttemptsAndReplay(page, id, secret);
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
