/**
 * The OpenAPI document's names: a described tag for every tag a route uses, and the stable
 * operationId of every operation that does not declare its own in its route schema (the
 * webhooks and leaks routes do). Generated SDKs name their methods after these, so an id never
 * changes once released; a new route adds its line here (test/openapi-document.test.ts fails
 * on an operation without an id or a tag without a description).
 */
export const TAGS: Array<{ name: string; description: string }> = [
  { name: 'operational', description: 'Liveness, readiness and Prometheus metrics' },
  { name: 'admin tokens', description: "Operators' admin tokens and their scopes" },
  { name: 'audit', description: 'The tamper-evident audit log of every change' },
  { name: 'admin: clients', description: 'The clients (tenants) who buy the API' },
  { name: 'admin: keys', description: "A client's API keys, managed by an operator" },
  { name: 'admin: verify', description: 'Verify an API key on behalf of a service' },
  {
    name: 'client',
    description: 'A client calling with its own API key: who it is, its keys, rolled-key notices',
  },
  {
    name: 'credentials',
    description: "A client's own provider credentials in the vault (secrets are write-only)",
  },
  {
    name: 'admin credentials',
    description: "Platform credentials, clients' credentials and workers' resolution",
  },
  { name: 'usage', description: 'Metered calls and their cost; usage events from services' },
  { name: 'invoices', description: "A client's own invoices" },
  { name: 'invoices (admin)', description: 'Invoice runs, delivery, voiding and payments' },
  { name: 'clients', description: "A client's payment details (billing frequency, method)" },
  { name: 'webhooks', description: "A client's webhook endpoints and the messages sent to them" },
  {
    name: 'admin: webhooks',
    description: "Every client's webhook endpoints and messages, and the operator's own",
  },
  {
    name: 'proxy',
    description: "Calls forwarded to a provider's API with the vault's credential injected",
  },
  {
    name: 'leaks: secret scanning partners',
    description: 'Leaked-key reports from GitHub and GitLab secret scanning',
  },
  { name: 'admin: leaks', description: 'Leaked-key reports by operators, and leak policies' },
  { name: 'dashboard', description: "The web dashboard's sign-in session" },
  { name: 'admin: budgets', description: 'Spending budgets on a client or one of its keys' },
];

const CREDENTIAL_OPS = (base: string, one: string, prefix: string, noun: string) => ({
  [`POST ${base}`]: `${prefix}create${noun}`,
  [`GET ${base}`]: `${prefix}list${noun}s`,
  [`GET ${one}`]: `${prefix}get${noun}`,
  [`PATCH ${one}`]: `${prefix}update${noun}`,
  [`DELETE ${one}`]: `${prefix}delete${noun}`,
  [`POST ${one}/verify`]: `${prefix}verify${noun}`,
  [`GET ${one}/audit`]: `${prefix}list${noun}Audit`,
});

const PROXY = '/v1/proxy/{provider}/{path}';

/** `METHOD /path` (as the document writes it) → operationId. */
export const OPERATION_IDS: Record<string, string> = {
  'GET /healthz': 'getLiveness',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getMetrics',

  'POST /admin/v1/admin-tokens': 'createAdminToken',
  'GET /admin/v1/admin-tokens': 'listAdminTokens',
  'POST /admin/v1/admin-tokens/{id}/revoke': 'revokeAdminToken',
  'GET /admin/v1/audit': 'listAuditEntries',
  'POST /admin/v1/audit/verify': 'verifyAuditLog',

  'POST /admin/v1/clients': 'createClient',
  'GET /admin/v1/clients': 'listClients',
  'GET /admin/v1/clients/{id}': 'getClient',
  'PATCH /admin/v1/clients/{id}': 'updateClient',
  'DELETE /admin/v1/clients/{id}': 'deleteClient',
  'POST /admin/v1/clients/{id}/suspend': 'suspendClient',
  'POST /admin/v1/clients/{id}/reactivate': 'reactivateClient',
  'POST /admin/v1/clients/{id}/keys': 'adminCreateKey',
  'GET /admin/v1/clients/{id}/keys': 'adminListKeys',
  'GET /admin/v1/clients/{id}/keys/{keyId}': 'adminGetKey',
  'DELETE /admin/v1/clients/{id}/keys/{keyId}': 'adminDeleteKey',
  'POST /admin/v1/clients/{id}/keys/{keyId}/revoke': 'adminRevokeKey',
  'POST /admin/v1/clients/{id}/keys/{keyId}/reactivate': 'adminReactivateKey',
  'POST /admin/v1/clients/{id}/keys/{keyId}/roll': 'adminRollKey',
  'GET /admin/v1/keys/legacy': 'getLegacyKeySummary',
  'POST /admin/v1/verify': 'verifyKey',

  'GET /v1/health': 'checkKey',
  'GET /v1/me': 'getMe',
  'GET /v1/keys': 'listKeys',
  'POST /v1/keys': 'createKey',
  'GET /v1/keys/{id}': 'getKey',
  'POST /v1/keys/{id}/revoke': 'revokeKey',
  'POST /v1/keys/{id}/roll': 'rollKey',

  'GET /v1/credentials/summary': 'getCredentialSummary',
  ...CREDENTIAL_OPS('/v1/credentials', '/v1/credentials/{id}', '', 'Credential'),
  'POST /admin/v1/credentials/resolve': 'resolveCredential',
  ...CREDENTIAL_OPS(
    '/admin/v1/credentials',
    '/admin/v1/credentials/{id}',
    '',
    'PlatformCredential',
  ),
  'GET /admin/v1/clients/{id}/credentials/summary': 'adminGetCredentialSummary',
  ...CREDENTIAL_OPS(
    '/admin/v1/clients/{id}/credentials',
    '/admin/v1/clients/{id}/credentials/{credentialId}',
    'admin',
    'Credential',
  ),

  'GET /v1/budgets': 'listBudgets',
  'GET /admin/v1/clients/{id}/budgets': 'adminListBudgets',
  'POST /admin/v1/clients/{id}/budgets': 'adminSetClientBudget',
  'GET /admin/v1/clients/{id}/keys/{keyId}/budgets': 'adminListKeyBudgets',
  'POST /admin/v1/clients/{id}/keys/{keyId}/budgets': 'adminSetKeyBudget',
  'GET /admin/v1/clients/{id}/budgets/{budgetId}': 'adminGetBudget',
  'PATCH /admin/v1/clients/{id}/budgets/{budgetId}': 'adminUpdateBudget',
  'DELETE /admin/v1/clients/{id}/budgets/{budgetId}': 'adminDeleteBudget',

  'GET /v1/usage': 'getUsage',
  'GET /v1/keys/{id}/usage': 'getKeyUsage',
  'GET /admin/v1/usage': 'adminGetUsage',
  'POST /admin/v1/usage/events': 'ingestUsageEvents',

  'GET /v1/invoices': 'listInvoices',
  'GET /v1/invoices/{id}': 'getInvoice',
  'GET /v1/invoices/{id}/html': 'getInvoiceHtml',
  'POST /admin/v1/invoices/run': 'runInvoices',
  'GET /admin/v1/invoices': 'adminListInvoices',
  'GET /admin/v1/invoices/{id}': 'adminGetInvoice',
  'GET /admin/v1/invoices/{id}/html': 'adminGetInvoiceHtml',
  'POST /admin/v1/invoices/{id}/send': 'sendInvoice',
  'POST /admin/v1/invoices/{id}/void': 'voidInvoice',
  'POST /admin/v1/invoices/{id}/paid': 'markInvoicePaid',
  'GET /admin/v1/clients/{id}/payment-details': 'getPaymentDetails',
  'PUT /admin/v1/clients/{id}/payment-details': 'setPaymentDetails',

  [`GET ${PROXY}`]: 'proxyGet',
  [`POST ${PROXY}`]: 'proxyPost',
  [`PUT ${PROXY}`]: 'proxyPut',
  [`PATCH ${PROXY}`]: 'proxyPatch',
  [`DELETE ${PROXY}`]: 'proxyDelete',
  [`HEAD ${PROXY}`]: 'proxyHead',
  [`OPTIONS ${PROXY}`]: 'proxyOptions',

  'POST /dashboard/api/session': 'createDashboardSession',
  'GET /dashboard/api/session': 'getDashboardSession',
  'DELETE /dashboard/api/session': 'deleteDashboardSession',
};
