/**
 * The dashboard's one way to the server. The session is an HttpOnly cookie the browser sends by
 * itself (same origin); every call also carries `X-Keyplane-Dashboard: 1`, which the server
 * requires of cookie-authenticated requests (CSRF defense on top of SameSite=Strict). No
 * credential is ever kept in the page: not in state, not in browser storage.
 */

import type { Answer, Schemas } from '../../sdk/src/api-shapes.ts';

/*
 * The API's shapes, derived from the types generated from the server's OpenAPI document
 * (sdk/src/generated/openapi.ts, by `npm run gen:api`; a test fails when it and the server
 * disagree), so the dashboard cannot drift from the server.
 */

export type Session = Answer<'getDashboardSession'>['session'];
export type RateLimit = Schemas['RateLimit'];
export type Client = Schemas['Client'];
/** `legacy`: imported by hash from another system (`keyplane import`); rolling it issues a Keyplane key. */
export type ApiKey = Schemas['ApiKey'];
export type CreatedKey = Schemas['CreatedKey'];
export type UsageSummary = Schemas['UsageSummary'];
export type UsageGroup = UsageSummary['groups'][number];
export type Invoice = Schemas['Invoice'];
/** An admin token as listed (never the token itself). */
export type AdminToken = Schemas['AdminToken'];
/** A client's payment details (GET/PUT /admin/v1/clients/{id}/payment-details). */
export type PaymentDetails = NonNullable<Answer<'getPaymentDetails'>['paymentDetails']>;
export type Credential = Schemas['Credential'];
export type AuditEntry = Schemas['AuditEntry'];

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
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type CreatedWebhookEndpoint = Answer<'adminCreateWebhookEndpoint', 201>;
export type WebhookMessage = Answer<'listWebhookMessages'>['data'][number];
export type WebhookDelivery = WebhookMessage['deliveries'][number];
export type WebhookAttempt = Answer<'adminGetWebhookMessage'>['message']['attempts'][number];

/** A spend budget on a client (keyId null) or one key, with its current period's spend. */
export type Budget = Answer<'adminGetBudget'>['budget'];
