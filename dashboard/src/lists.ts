/**
 * Lists the server keeps and the dashboard offers. They are copies (the dashboard talks to the
 * HTTP API only and does not import server modules); test/dashboard-lists.test.ts checks that
 * each still equals the server's.
 */

/** What an admin token may be granted (the server's ADMIN_SCOPES). */
export const ADMIN_SCOPES = [
  'admin',
  'clients:read',
  'clients:write',
  'keys:read',
  'keys:write',
  'verify',
  'usage:read',
  'usage:write',
  'invoices:read',
  'invoices:write',
  'credentials:read',
  'credentials:write',
  'credentials:resolve',
  'audit:read',
  'metrics:read',
  'webhooks:read',
  'webhooks:write',
  'tokens:write',
] as const;

/** The payment methods the API accepts (the server's PAYMENT_METHODS), with their labels. */
export const PAYMENT_METHODS: ReadonlyArray<readonly [string, string]> = [
  ['bank_transfer', 'bank transfer'],
  ['card', 'card'],
  ['sepa_debit', 'SEPA direct debit'],
  ['paypal', 'PayPal'],
  ['other', 'other'],
];
