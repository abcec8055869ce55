import { describe, expect, it } from 'vitest';
import { ADMIN_SCOPES as SERVER_SCOPES } from '../src/admin-tokens/admin-tokens-types.ts';
import { PAYMENT_METHODS as SERVER_METHODS } from '../src/billing/billing-types.ts';
import { ADMIN_SCOPES, PAYMENT_METHODS } from '../dashboard/src/lists.ts';

/** The dashboard's copies of server lists (it does not import server modules) stay equal. */
describe('lists the dashboard offers', () => {
  it('every admin scope the server grants, in its order', () => {
    expect([...ADMIN_SCOPES]).toEqual([...SERVER_SCOPES]);
  });

  it('every payment method the server accepts, each with a label', () => {
    expect(PAYMENT_METHODS.map(([value]) => value)).toEqual([...SERVER_METHODS]);
    for (const [, label] of PAYMENT_METHODS) expect(label.trim()).not.toBe('');
  });
});
