import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium } from './support/browser.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';

/**
 * The invoice page as a client's browser sees it: served over real loopback HTTP with the
 * client's key, rendered by Chromium, screenshotted and printed. The page does not depend on
 * the storage engine (invoices.test.ts serves it from both), so this runs on SQLite only.
 */

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe.skipIf(!haveChromium)('invoice page in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let baseUrl: string;
  let apiKey: string;
  let invoiceId: string;
  const clock = createManualClock(new Date('2025-09-30T08:00:00.000Z'));

  beforeAll(async () => {
    h = await createHarness('sqlite', {
      clock,
      file: {
        pricing: {
          'POST /api/video/buffer': '0.01',
          'POST /api/video/analyze': '0.05',
          'POST /api/alert': '0.10',
        },
        billing: {
          operator: {
            name: 'Vigint SAS',
            address: '12 rue de la Paix\n75002 Paris, France',
            email: 'billing@vigint.example',
            vatId: 'FR00123456789',
          },
        },
      },
    });
    const created = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Acme Corp', email: 'security@acme.example' },
    });
    const { client, key } = created.json();
    apiKey = created.json().apiKey;
    await h.app.inject({
      method: 'PUT',
      url: `/admin/v1/clients/${client.id}/payment-details`,
      headers: h.adminHeaders,
      payload: {
        method: 'sepa_debit',
        billingEmail: 'accounts@acme.example',
        company: {
          name: 'Acme Corporation <script>alert(1)</script>',
          address: '1 Infinite Loop\n75001 Paris',
          vatId: 'FR12345678901',
        },
      },
    });
    const add = (endpoint: string, n: number) => {
      for (let i = 0; i < n; i++) {
        h.services.usage.record({
          requestId: `req_${randomBytes(12).toString('hex')}`,
          clientId: client.id,
          keyId: key.id,
          endpoint,
          method: 'POST',
          status: 200,
          environment: 'live',
          durationMs: 2,
          at: new Date(Date.parse('2025-10-01T10:00:00Z') + i * 1000),
        });
      }
    };
    add('POST /api/video/buffer', 1138); // €11.38
    add('POST /api/video/analyze', 17); // €0.85
    add('POST /api/alert', 2); // €0.20
    await h.services.usage.flush();
    clock.set(new Date('2025-10-07T09:00:00.000Z'));
    await h.services.billing.run({ period: '2025-W40', actor: { type: 'system', id: 'test' } });
    invoiceId = (await h.services.billing.list({ clientId: client.id })).data[0]!.id;

    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = h.app.server.address() as { port: number };
    baseUrl = `http://127.0.0.1:${addr.port}`;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('renders the invoice with operator, client, period, line items and totals', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.setExtraHTTPHeaders({ 'x-api-key': apiKey });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('dialog', (d) => {
      errors.push(`dialog: ${d.message()}`); // an injected alert() would land here
      void d.dismiss();
    });
    const res = await page.goto(`${baseUrl}/v1/invoices/${invoiceId}/html`);
    expect(res!.status()).toBe(200);
    expect(await page.title()).toBe('Invoice INV-2025-W40-0001');
    const text = await page.locator('main').innerText();
    for (const expected of [
      'INV-2025-W40-0001',
      'Vigint SAS',
      '75002 Paris, France',
      'FR00123456789',
      'Acme Corporation <script>alert(1)</script>', // shown as text, never run
      'accounts@acme.example',
      'ISO week 2025-W40 (2025-09-29 to 2025-10-05)',
      'SEPA direct debit',
      'POST /api/video/buffer',
      '1,138',
      '€0.01',
      '€11.38',
      '€12.43',
    ]) {
      expect(text).toContain(expected);
    }
    expect(await page.locator('table.lines tbody tr').count()).toBe(3);
    expect(errors).toEqual([]);

    const png = await page.screenshot({ fullPage: true });
    const { width, height } = pngSize(png);
    expect(width).toBe(1000);
    expect(height).toBeGreaterThan(600);
    // A blank or unstyled page compresses to a few KB; the invoice has text, rules and colour.
    expect(png.length).toBeGreaterThan(30_000);
    writeFileSync(join(tmpdir(), 'keyplane-invoice.png'), png);

    // Printable: the print stylesheet applies and Chromium makes a one-page A4 PDF of it.
    await page.emulateMedia({ media: 'print' });
    const pdf = await page.pdf({ format: 'A4' });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g)).toHaveLength(1);
    await page.close();
  });

  it('another key gets 404 from the page, not the invoice', async () => {
    const other = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Other', email: 'other@other.example' },
    });
    const page = await browser.newPage();
    await page.setExtraHTTPHeaders({ 'x-api-key': other.json().apiKey });
    const res = await page.goto(`${baseUrl}/v1/invoices/${invoiceId}/html`);
    expect(res!.status()).toBe(404);
    expect(await page.content()).not.toContain('INV-2025-W40-0001');
    await page.close();
  });
});
