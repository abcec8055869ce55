import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateClientInput } from '../src/clients/index.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const actor = { type: 'system' as const, id: 'test' };

/** Issue 13: clients took addresses billing refused (their invoices were never delivered). */
describe.each(ENGINES)('one e-mail rule for clients and billing on %s', (engine) => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(engine);
  });
  afterAll(async () => h?.close());

  it('refuses for a client what billing would refuse', async () => {
    for (const email of ['jane@example.com;', '"jane"@example.com', 'a<b@example.com']) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/clients',
        headers: h.adminHeaders,
        payload: { name: 'Mail', email },
      });
      expect(res.statusCode, email).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
  });

  it('a client address is accepted exactly when billing accepts it as a billing address', async () => {
    const { client } = await h.services.clients.create(
      { name: 'Billing', email: 'b@example.com' },
      actor,
    );
    const part = fc.stringMatching(/^[a-z0-9.+"<>,; -]{1,8}$/);
    const address = fc.oneof(
      fc.tuple(part, part, part).map(([a, b, c]) => `${a}@${b}.${c}`),
      fc.string({ maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(address, async (email) => {
        const trimmed = email.trim();
        fc.pre(trimmed.length > 0);
        // The clients' one input schema: what the HTTP body, the CLI's flags and an import take.
        const asClient = updateClientInput.safeParse({ email: trimmed }).success;
        // Billing's face: the payment-details body (the same schema as the CLI and imports).
        const put = await h.app.inject({
          method: 'PUT',
          url: `/admin/v1/clients/${client.id}/payment-details`,
          headers: h.adminHeaders,
          payload: { method: 'bank_transfer', frequency: 'monthly', billingEmail: trimmed },
        });
        expect([200, 400], put.body).toContain(put.statusCode);
        const asBilling = put.statusCode === 200;
        expect(asClient, trimmed).toBe(asBilling);
      }),
      { numRuns: 60, seed: 13 },
    );
  });
});
