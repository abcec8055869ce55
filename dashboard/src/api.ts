/**
 * The dashboard's one way to the server. The session is an HttpOnly cookie the browser sends by
 * itself (same origin); every call also carries `X-Keyplane-Dashboard: 1`, which the server
 * requires of cookie-authenticated requests (CSRF defense on top of SameSite=Strict). No
 * credential is ever kept in the page: not in state, not in browser storage.
 */

export interface Session {
  kind: 'operator' | 'client';
  name: string;
  scopes: string[];
  clientId: string | null;
  keyId: string | null;
  expiresAt: string;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export interface Client {
  id: string;
  name: string;
  email: string | null;
  tier: string;
  status: 'active' | 'suspended' | 'deleted';
  metadata: Record<string, unknown>;
  defaultRateLimit: RateLimit | null;
  createdAt: string;
  updatedAt: string;
  suspendedAt: string | null;
  deletedAt: string | null;
}

export interface ApiKey {
  id: string;
  clientId: string;
  start: string;
  name: string | null;
  description: string | null;
  environment: 'live' | 'test';
  scopes: string[];
  ipAllowlist: string[];
  expiresAt: string | null;
  rateLimit: RateLimit | null;
  status: 'active' | 'revoked';
  revokedAt: string | null;
  revokedReason: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  /** Imported by hash from another system (`keyplane import`); rolling it issues a Keyplane key. */
  legacy: boolean;
}

export interface CreatedKey {
  key: ApiKey;
  apiKey: string;
}

export interface UsageGroup {
  group: string;
  calls: number;
  testCalls: number;
  costMicros: number;
  cost: string;
}

export interface UsageSummary {
  from: string;
  to: string;
  currency: string;
  totals: Omit<UsageGroup, 'group'>;
  groups: UsageGroup[];
}

export interface Invoice {
  id: string;
  number: string;
  clientId: string;
  period: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  status: string;
  totalMicros: number;
  total: string;
  createdAt: string;
  issuedAt: string;
  sentAt: string | null;
  paidAt: string | null;
  voidedAt: string | null;
  billTo: { name: string; email: string | null };
}

/** An admin token as listed (never the token itself). */
export interface AdminToken {
  id: string;
  name: string;
  start: string;
  scopes: string[];
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'revoked';
}

/** A client's payment details (GET/PUT /admin/v1/clients/{id}/payment-details). */
export interface PaymentDetails {
  clientId: string;
  method: string;
  frequency: 'weekly' | 'monthly';
  /** null: invoices go to the client's email. */
  billingEmail: string | null;
  currency: string;
  company: { name: string | null; address: string | null; vatId: string | null };
  /** null: the config's default. */
  invoiceWhenEmpty: boolean | null;
  createdAt: string;
  updatedAt: string;
}

export interface Credential {
  id: string;
  name: string;
  provider: string;
  type: string;
  permissions: string;
  fields: string[];
  isActive: boolean;
  isVerified: boolean;
  lastVerifiedAt: string | null;
  verification: { status: string; message: string } | null;
  lastUsedAt: string | null;
  usageCount: number;
  createdAt: string;
  deletedAt: string | null;
}

export interface AuditEntry {
  seq: number;
  id: string;
  createdAt: string;
  actorType: string;
  actorId: string;
  action: string;
  targetType: string;
  targetId: string | null;
  clientId: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** An error answer of the API, as its envelope names it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

/** Fired on window when an API call answers 401: the session is gone. */
export const SESSION_LOST = 'keyplane:session-lost';

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'X-Keyplane-Dashboard': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network_error', 'the server could not be reached', null);
  }
  if (res.ok) return res;
  let code = `http_${res.status}`;
  let message = res.statusText || 'request failed';
  let requestId = res.headers.get('x-request-id');
  try {
    const env = (await res.json()) as {
      error?: { code?: string; message?: string; requestId?: string };
    };
    if (env.error) {
      code = env.error.code ?? code;
      message = env.error.message ?? message;
      requestId = env.error.requestId ?? requestId;
    }
  } catch {
    // not an envelope: keep the status line
  }
  // A session that expired or was revoked: the app goes back to the sign-in form.
  if (res.status === 401 && !path.startsWith('/dashboard/api/session'))
    window.dispatchEvent(new Event(SESSION_LOST));
  throw new ApiError(res.status, code, message, requestId);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(method, path, body);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export async function apiText(path: string): Promise<string> {
  return (await call('GET', path)).text();
}

/** `?a=1&b=2` from the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const getSession = () => api<{ session: Session }>('GET', '/dashboard/api/session');
export const openSession = (credential: { adminToken: string } | { apiKey: string }) =>
  api<{ session: Session }>('POST', '/dashboard/api/session', credential);
export const closeSession = () => api<void>('DELETE', '/dashboard/api/session');

/** True when the scopes grant `scope` (`*` and `admin` grant everything). */
export function hasScope(scopes: string[], scope: string): boolean {
  return scopes.includes('*') || scopes.includes('admin') || scopes.includes(scope);
}

/** A webhook endpoint (never its signing secret: that is shown once, on create and roll). */
export interface WebhookEndpoint {
  id: string;
  /** null: the operator's (every client's events). */
  clientId: string | null;
  url: string;
  description: string;
  /** Empty: every event type. */
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CreatedWebhookEndpoint {
  endpoint: WebhookEndpoint;
  secret: string;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  finishedAt: string | null;
}

export interface WebhookMessage {
  id: string;
  eventType: string;
  clientId: string | null;
  payload: unknown;
  createdAt: string;
  deliveries: WebhookDelivery[];
}

export interface WebhookAttempt {
  id: string;
  deliveryId: string;
  endpointId: string;
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  outcome: 'delivered' | 'failed';
  error: string | null;
  responseExcerpt: string | null;
}

/** A spend budget on a client (keyId null) or one key, with its current period's spend. */
export interface Budget {
  id: string;
  clientId: string;
  keyId: string | null;
  amountMicros: number;
  amount: string;
  currency: string;
  period: 'day' | 'week' | 'month' | 'billing';
  mode: 'hard' | 'soft';
  thresholds: number[];
  current: {
    periodStart: string;
    periodEnd: string;
    spentMicros: number;
    spent: string;
    remainingMicros: number;
    alerted: number[];
  };
  createdAt: string;
  updatedAt: string;
}
