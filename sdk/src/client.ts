import { Transport, type Query, type RequestSpec, type TransportOptions } from './transport.ts';
import type {
  ApiKey,
  AuditEntry,
  AuditQuery,
  Client,
  CreateClientInput,
  CreateCredentialInput,
  CreatedClient,
  CreatedKey,
  CreateKeyInput,
  Credential,
  CredentialSummary,
  Invoice,
  InvoiceQuery,
  InvoiceRunResult,
  KeyUsage,
  Page,
  PageQuery,
  RolledKey,
  UpdateClientInput,
  UpdateCredentialInput,
  UsageEventInput,
  UsageQuery,
  UsageSummary,
  VerifyInput,
  VerifyResult,
} from './types.ts';

export type KeyplaneOptions = TransportOptions;

const seg = encodeURIComponent;

/**
 * A typed client for Keyplane's HTTP API. Admin calls (`clients`, `keys`, `verify`, `usage`,
 * `invoices`, `audit`) use `adminToken`; the client API (`client.*`) uses `apiKey`. Errors are
 * thrown as {@link KeyplaneError}; network errors and 502/503/504 are retried with backoff for
 * GET/PUT/DELETE only (a POST is never repeated unless it is safe to).
 *
 * @example
 *   import { Keyplane } from '@keyplane/sdk';
 *
 *   const kp = new Keyplane({ baseUrl: 'http://127.0.0.1:8080', adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const { client, apiKey } = await kp.clients.create({ name: 'Acme Corp', email: 'security@acme.com' });
 *   // hand apiKey to the client once; Keyplane keeps only its hash
 *
 *   const acme = kp.withApiKey(apiKey);
 *   const health = await acme.client.health(); // { status: 'ok', timestamp, client: { id, name } }
 */
export class Keyplane {
  readonly #options: KeyplaneOptions;
  readonly #http: Transport;

  constructor(options: KeyplaneOptions) {
    this.#options = { ...options };
    this.#http = new Transport(options);
  }

  /** The same Keyplane, acting as the holder of another client key. */
  withApiKey(apiKey: string): Keyplane {
    return new Keyplane({ ...this.#options, apiKey });
  }

  get baseUrl(): string {
    return this.#http.baseUrl;
  }

  #admin<T>(method: RequestSpec['method'], path: string, rest: Partial<RequestSpec> = {}) {
    return this.#http.request<T>({ method, path: `/admin/v1${path}`, auth: 'admin', ...rest });
  }

  #client<T>(method: RequestSpec['method'], path: string, rest: Partial<RequestSpec> = {}) {
    return this.#http.request<T>({ method, path: `/v1${path}`, auth: 'client', ...rest });
  }

  /** Admin: clients (tenants). Scopes `clients:read` / `clients:write`. */
  readonly clients = {
    /** Creates a client and its first key; `apiKey` is shown exactly once. */
    create: (input: CreateClientInput) =>
      this.#admin<CreatedClient>('POST', '/clients', { body: input }),
    list: (query: PageQuery & { status?: Client['status'] } = {}) =>
      this.#admin<Page<Client>>('GET', '/clients', { query: query as Query }),
    /** A client with its keys; another tenant's id answers 404 like a missing one. */
    get: (id: string) =>
      this.#admin<{ client: Client; keys: ApiKey[] }>('GET', `/clients/${seg(id)}`),
    update: (id: string, patch: UpdateClientInput) =>
      this.#admin<{ client: Client }>('PATCH', `/clients/${seg(id)}`, { body: patch }),
    /** Stops every key of the client at once (reversible). */
    suspend: (id: string, reason?: string) =>
      this.#admin<{ client: Client }>('POST', `/clients/${seg(id)}/suspend`, {
        body: reason === undefined ? {} : { reason },
      }),
    reactivate: (id: string) =>
      this.#admin<{ client: Client }>('POST', `/clients/${seg(id)}/reactivate`),
    /** Permanent: keys and credentials destroyed, PII scrubbed; usage and invoices stay. */
    delete: (id: string) => this.#admin<{ client: Client }>('DELETE', `/clients/${seg(id)}`),
  };

  /** Admin: the keys of a client. Scopes `keys:read` / `keys:write`. */
  readonly keys = {
    create: (clientId: string, input: CreateKeyInput = {}) =>
      this.#admin<CreatedKey>('POST', `/clients/${seg(clientId)}/keys`, { body: input }),
    list: (clientId: string, query: PageQuery = {}) =>
      this.#admin<Page<ApiKey>>('GET', `/clients/${seg(clientId)}/keys`, { query: query as Query }),
    get: (clientId: string, keyId: string) =>
      this.#admin<{ key: ApiKey }>('GET', `/clients/${seg(clientId)}/keys/${seg(keyId)}`),
    revoke: (clientId: string, keyId: string, reason?: string) =>
      this.#admin<{ key: ApiKey }>('POST', `/clients/${seg(clientId)}/keys/${seg(keyId)}/revoke`, {
        body: reason === undefined ? {} : { reason },
      }),
    reactivate: (clientId: string, keyId: string) =>
      this.#admin<{ key: ApiKey }>(
        'POST',
        `/clients/${seg(clientId)}/keys/${seg(keyId)}/reactivate`,
      ),
    /** A new key now; the old one works until the grace deadline (default 24 h, 0 = now). */
    roll: (clientId: string, keyId: string, opts: { gracePeriodSeconds?: number } = {}) =>
      this.#admin<RolledKey>('POST', `/clients/${seg(clientId)}/keys/${seg(keyId)}/roll`, {
        body: opts,
      }),
    delete: (clientId: string, keyId: string) =>
      this.#admin<void>('DELETE', `/clients/${seg(clientId)}/keys/${seg(keyId)}`, {
        expect: 'none',
      }),
  };

  /**
   * Admin (scope `verify`): checks a key for a service that verifies keys itself. Always
   * answers (an invalid key is `{valid: false, code}`), never retried: a verification may
   * spend a credit or a rate-limit slot.
   */
  verify(input: VerifyInput, opts: { signal?: AbortSignal } = {}): Promise<VerifyResult> {
    return this.#admin<VerifyResult>('POST', '/verify', { body: input, signal: opts.signal });
  }

  /** Admin: usage across clients (`usage:read`) and metering of a service's own calls. */
  readonly usage = {
    query: (
      query: UsageQuery & {
        clientId?: string;
        groupBy?: 'day' | 'endpoint' | 'key' | 'client';
      } = {},
    ) => this.#admin<UsageSummary>('GET', '/usage', { query: query as Query }),
    /**
     * Records calls to a service's own endpoints (scope `usage:write`), priced by Keyplane's
     * price book. Safe to retry: each event's requestId is counted once.
     */
    record: (events: UsageEventInput[]) =>
      this.#admin<{
        recorded: number;
        rejected: Array<{ index: number; requestId: string; code: string }>;
      }>('POST', '/usage/events', { body: { events }, retry: true }),
  };

  /** Admin: invoices of every client. Scopes `invoices:read` / `invoices:write`. */
  readonly invoices = {
    /** Invoices a period (default: the last completed ISO week); running it twice changes nothing. */
    run: (opts: { period?: string; send?: boolean } = {}) =>
      this.#admin<InvoiceRunResult>('POST', '/invoices/run', { body: opts }),
    list: (query: InvoiceQuery & { clientId?: string } = {}) =>
      this.#admin<Page<Invoice>>('GET', '/invoices', { query: query as Query }),
    get: (id: string) => this.#admin<{ invoice: Invoice }>('GET', `/invoices/${seg(id)}`),
    html: (id: string) =>
      this.#admin<string>('GET', `/invoices/${seg(id)}/html`, { expect: 'text' }),
    send: (id: string) =>
      this.#admin<{ invoice: Invoice; delivered: boolean; error?: string }>(
        'POST',
        `/invoices/${seg(id)}/send`,
      ),
    void: (id: string, reason?: string) =>
      this.#admin<{ invoice: Invoice }>('POST', `/invoices/${seg(id)}/void`, {
        body: reason === undefined ? {} : { reason },
      }),
    markPaid: (id: string) =>
      this.#admin<{ invoice: Invoice }>('POST', `/invoices/${seg(id)}/paid`),
  };

  /** Admin (scope `audit:read`): the tamper-evident audit log. */
  readonly audit = {
    list: (query: AuditQuery = {}) =>
      this.#admin<Page<AuditEntry>>('GET', '/audit', { query: query as Query }),
    verify: () =>
      this.#admin<{ ok: boolean; entries: number; firstBadSeq?: number; reason?: string }>(
        'POST',
        '/audit/verify',
      ),
  };

  /** The client API, as the holder of `apiKey`: own profile, keys, usage, invoices, credentials. */
  readonly client = {
    /** Seed 01's key check: `{status: 'ok', timestamp, client: {id, name}}`. */
    health: () =>
      this.#client<{ status: 'ok'; timestamp: string; client: { id: string; name: string } }>(
        'GET',
        '/health',
      ),
    me: () => this.#client<{ client: Client; key: ApiKey }>('GET', '/me'),
    keys: {
      list: (query: PageQuery = {}) =>
        this.#client<Page<ApiKey>>('GET', '/keys', { query: query as Query }),
      get: (id: string) => this.#client<{ key: ApiKey }>('GET', `/keys/${seg(id)}`),
      /** Needs scope `keys:write`; a key cannot grant scopes it does not hold. */
      create: (input: CreateKeyInput = {}) =>
        this.#client<CreatedKey>('POST', '/keys', { body: input }),
      revoke: (id: string, reason?: string) =>
        this.#client<{ key: ApiKey }>('POST', `/keys/${seg(id)}/revoke`, {
          body: reason === undefined ? {} : { reason },
        }),
      roll: (id: string, opts: { gracePeriodSeconds?: number } = {}) =>
        this.#client<RolledKey>('POST', `/keys/${seg(id)}/roll`, { body: opts }),
      usage: (id: string, query: UsageQuery = {}) =>
        this.#client<KeyUsage>('GET', `/keys/${seg(id)}/usage`, { query: query as Query }),
    },
    usage: (query: UsageQuery & { groupBy?: 'day' | 'endpoint' | 'key' } = {}) =>
      this.#client<UsageSummary>('GET', '/usage', { query: query as Query }),
    invoices: {
      list: (query: InvoiceQuery = {}) =>
        this.#client<Page<Invoice>>('GET', '/invoices', { query: query as Query }),
      get: (id: string) => this.#client<{ invoice: Invoice }>('GET', `/invoices/${seg(id)}`),
      html: (id: string) =>
        this.#client<string>('GET', `/invoices/${seg(id)}/html`, { expect: 'text' }),
    },
    /** Own provider credentials (scopes `credentials:read` / `credentials:write`). */
    credentials: {
      /** The secret goes in and never comes back out. */
      create: (input: CreateCredentialInput) =>
        this.#client<Credential>('POST', '/credentials', { body: input }),
      list: (query: PageQuery & { provider?: string; includeDeleted?: boolean } = {}) =>
        this.#client<Page<Credential>>('GET', '/credentials', { query: query as Query }),
      get: (id: string) => this.#client<Credential>('GET', `/credentials/${seg(id)}`),
      update: (id: string, patch: UpdateCredentialInput) =>
        this.#client<Credential>('PATCH', `/credentials/${seg(id)}`, { body: patch }),
      /** Soft delete: inactive, data key shredded. */
      delete: (id: string) => this.#client<Credential>('DELETE', `/credentials/${seg(id)}`),
      /** Checks the credential against the provider's API. */
      verify: (id: string) =>
        this.#client<Credential & { verification: { status: string; message: string } }>(
          'POST',
          `/credentials/${seg(id)}/verify`,
        ),
      summary: () => this.#client<CredentialSummary>('GET', '/credentials/summary'),
      audit: (id: string, query: PageQuery = {}) =>
        this.#client<Page<Record<string, unknown>>>('GET', `/credentials/${seg(id)}/audit`, {
          query: query as Query,
        }),
    },
  };

  /** Liveness (`GET /healthz`, no auth). */
  async healthz(): Promise<boolean> {
    try {
      const res = await fetch(this.#http.url('/healthz'), { signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }
}
