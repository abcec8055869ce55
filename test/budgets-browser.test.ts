import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium } from './support/browser.ts';
import { ensureDashboardBuilt } from './support/dashboard-build.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { startKeyplane, tempDir, type ServeProcess } from './support/keyplane-process.ts';

/**
 * The dashboard's budget pages end to end: a real `keyplane serve` with a priced endpoint and
 * Chromium. The operator adds a hard client budget and a soft key budget on the client's page,
 * the client's calls spend part of them (the next one that would pass the hard one is refused),
 * the operator's page and the client portal show the spend and what remains, the operator
 * changes the amount, then deletes both.
 */

const BOOTSTRAP = /bootstrap admin token[\s\S]*?\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/;
const PRICING = { 'GET /v1/health': '0.30', '*': 0 };

interface Budget {
  id: string;
  keyId: string | null;
  amount: string;
  mode: string;
  period: string;
  current: { spentMicros: number; remainingMicros: number };
}

describe.skipIf(!haveChromium)('budget pages in Chromium', () => {
  let server: ServeProcess;
  let browser: Browser;
  let admin: Record<string, string>;
  let adminToken: string;

  beforeAll(async () => {
    await ensureDashboardBuilt();
    const cwd = tempDir('kp-budgets-ui-');
    const configFile = join(cwd, 'keyplane.config.json');
    writeFileSync(configFile, JSON.stringify({ billing: { schedule: 'off' }, pricing: PRICING }));
    server = await startKeyplane({
      cwd,
      env: { KEYPLANE_MASTER_KEY: TEST_MASTER_KEY, KEYPLANE_CONFIG: configFile },
    });
    adminToken = BOOTSTRAP.exec(server.stdout())![1]!;
    admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const budgets = async (clientId: string) => {
    const res = await fetch(`${server.url}/admin/v1/clients/${clientId}/budgets`, {
      headers: admin,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: Budget[] }).data;
  };
  const health = (apiKey: string) =>
    fetch(`${server.url}/v1/health`, { headers: { 'x-api-key': apiKey } }).then((r) => r.status);

  /** Clicks the panel's Refresh (if any) until the budget's row says `spent` and `remaining`. */
  async function showsSpend(panel: Locator, id: string, spent: string, remaining: string) {
    const row = panel.getByTestId(`budget-${id}`);
    const refresh = panel.getByRole('button', { name: 'Refresh', exact: true });
    await expect
      .poll(
        async () => {
          if (await refresh.count()) await refresh.click();
          if (!(await row.count())) return '';
          const s = await row.getByTestId('budget-spent').textContent();
          const r = await row.getByTestId('budget-remaining').textContent();
          return `${s} / ${r}`;
        },
        { timeout: 20_000 },
      )
      .toBe(`${spent} / ${remaining}`);
  }

  it('the operator adds budgets, spend shows on both sides, then they are deleted', async () => {
    const created = await fetch(`${server.url}/admin/v1/clients`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'Budgeted Ltd', email: 'ops@budgeted.example' }),
    });
    expect(created.status).toBe(201);
    const { client, apiKey } = (await created.json()) as {
      client: { id: string };
      apiKey: string;
    };

    // The operator adds a hard monthly budget of 1.00 on the client's page.
    const ops = await browser.newPage();
    await ops.goto(server.url);
    await ops.getByRole('tab', { name: 'Operator — admin token' }).click();
    await ops.getByLabel('Admin token').fill(adminToken);
    await ops.getByRole('button', { name: 'Sign in' }).click();
    await ops.getByTestId('session-name').waitFor();
    await ops.goto(`${server.url}/clients/${client.id}`);
    const panel = ops.getByRole('region', { name: 'Budgets' });
    await panel.getByText('No budgets.').waitFor();
    await panel.getByRole('button', { name: 'Add budget' }).click();
    const form = panel.getByRole('form', { name: 'Add budget' });
    await form.getByLabel('Amount').fill('1.00');
    await form.getByLabel('Period').selectOption('month');
    await form.getByLabel('Mode').selectOption('hard');
    await form.getByRole('button', { name: 'Create budget' }).click();
    await expect.poll(() => form.count()).toBe(0);
    const [budget] = await budgets(client.id);
    expect(budget).toMatchObject({ keyId: null, amount: '1.00', mode: 'hard', period: 'month' });
    await showsSpend(panel, budget!.id, '0.00', '1.00');
    const row = panel.getByTestId(`budget-${budget!.id}`);
    expect(await row.textContent()).toContain('all keys');

    // And a soft daily budget of 5.00 on the client's one key.
    await panel.getByRole('button', { name: 'Add budget' }).click();
    await form.getByLabel('Amount').fill('5');
    await form.getByLabel('Period').selectOption('day');
    await form.getByLabel('Mode').selectOption('soft');
    await form.getByLabel('Key').selectOption({ index: 1 });
    await form.getByRole('button', { name: 'Create budget' }).click();
    await expect.poll(() => form.count()).toBe(0);
    const keyBudget = (await budgets(client.id)).find((b) => b.keyId !== null)!;
    expect(keyBudget).toMatchObject({ amount: '5.00', mode: 'soft', period: 'day' });
    await showsSpend(panel, keyBudget.id, '0.00', '5.00');
    expect(await panel.getByTestId(`budget-${keyBudget.id}`).textContent()).toMatch(/key kp_/);

    // Three calls at 0.30 fit; the fourth would pass 1.00 and is refused.
    for (let i = 0; i < 3; i++) expect(await health(apiKey)).toBe(200);
    expect(await health(apiKey)).toBe(429);
    await showsSpend(panel, budget!.id, '0.90', '0.10');
    // The refused call took nothing from the key's budget either.
    await showsSpend(panel, keyBudget.id, '0.90', '4.10');

    // The client sees the same in its portal.
    const portal = await browser.newPage();
    await portal.goto(server.url);
    await portal.getByRole('tab', { name: 'Client — API key' }).click();
    await portal.getByLabel('API key').fill(apiKey);
    await portal.getByRole('button', { name: 'Sign in' }).click();
    await portal.getByTestId('session-name').waitFor();
    const own = portal.getByRole('region', { name: 'Budgets' });
    await showsSpend(own, budget!.id, '0.90', '0.10');
    expect(await own.getByRole('button').count()).toBe(0); // read-only

    // The operator raises the amount: the spend stays, the room grows.
    await row.getByRole('button', { name: 'Change' }).click();
    const change = panel.getByRole('form', { name: 'Change budget' });
    await change.getByLabel('Amount').fill('2.50');
    await change.getByRole('button', { name: 'Save budget' }).click();
    await expect.poll(() => change.count()).toBe(0);
    await showsSpend(panel, budget!.id, '0.90', '1.60');
    expect(await health(apiKey)).toBe(200);

    // Deleted after a confirmation: gone from the page and the API, calls no longer held to it.
    for (const id of [budget!.id, keyBudget.id]) {
      await panel.getByTestId(`budget-${id}`).getByRole('button', { name: 'Delete' }).click();
      const dialog = ops.getByRole('dialog', { name: 'Delete budget' });
      await dialog.getByRole('button', { name: 'Delete budget' }).click();
      await expect.poll(() => panel.getByTestId(`budget-${id}`).count()).toBe(0);
    }
    await panel.getByText('No budgets.').waitFor();
    expect(await budgets(client.id)).toEqual([]);
    for (let i = 0; i < 6; i++) expect(await health(apiKey)).toBe(200);
    await portal.reload();
    await portal.getByTestId('session-name').waitFor();
    await portal.getByText('Signed in with key').waitFor(); // /v1/me has answered
    expect(await portal.getByRole('region', { name: 'Budgets' }).count()).toBe(0);
    await ops.close();
    await portal.close();
  }, 60_000);
});
