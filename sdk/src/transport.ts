import { errorFromResponse, KeyplaneError } from './errors.ts';

/** How the SDK reaches Keyplane. Only Node's global fetch: no HTTP library. */
export interface TransportOptions {
  /** Keyplane's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Admin token (`kpadm_…`) for the admin API and verification. */
  adminToken?: string;
  /** Client API key (`kp_live_…`) for the client API. */
  apiKey?: string;
  /** Per-attempt timeout (default 10 000 ms). */
  timeoutMs?: number;
  /** Extra attempts after a network error or a 502/503/504 (default 2). */
  retries?: number;
  /** First backoff delay; doubles per attempt, with jitter (default 100 ms). */
  retryDelayMs?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  auth: 'admin' | 'client';
  /** `text`: the body as a string (HTML pages); `none`: nothing (204). Default json. */
  expect?: 'json' | 'text' | 'none';
  /**
   * Retry a POST/PATCH too (only for requests that are safe to repeat, e.g. usage events
   * carrying request ids). GET, PUT and DELETE are retried anyway.
   */
  retry?: boolean;
  signal?: AbortSignal;
}

const RETRY_STATUSES = new Set([502, 503, 504]);
const IDEMPOTENT = new Set(['GET', 'PUT', 'DELETE']);
const MAX_RETRY_AFTER_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The one place the SDK talks HTTP: auth header, timeout, retries, error envelope. */
export class Transport {
  readonly baseUrl: string;
  readonly #adminToken: string | undefined;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: TransportOptions) {
    if (!options.baseUrl) throw new TypeError('Keyplane: baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#adminToken = options.adminToken;
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retries = Math.max(0, options.retries ?? 2);
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  url(path: string, query?: Query): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const secret = spec.auth === 'admin' ? this.#adminToken : this.#apiKey;
    if (!secret) {
      throw new KeyplaneError({
        status: 0,
        code: 'not_configured',
        message:
          spec.auth === 'admin'
            ? 'Keyplane: this call needs an adminToken'
            : 'Keyplane: this call needs an apiKey',
      });
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (spec.auth === 'admin') headers.authorization = `Bearer ${secret}`;
    else headers['x-api-key'] = secret;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.body);
    }
    const url = this.url(spec.path, spec.query);
    const retriable = spec.retry || IDEMPOTENT.has(spec.method);

    for (let attempt = 0; ; attempt++) {
      const last = !retriable || attempt >= this.#retries;
      let res: Response;
      try {
        const timeout = AbortSignal.timeout(this.#timeoutMs);
        const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
        res = await this.#fetch(url, { method: spec.method, headers, body, signal });
      } catch (err) {
        if (spec.signal?.aborted) throw err;
        const timedOut = (err as Error).name === 'TimeoutError';
        if (!last) {
          await sleep(this.#backoff(attempt));
          continue;
        }
        throw new KeyplaneError({
          status: 0,
          code: timedOut ? 'timeout' : 'network_error',
          message: timedOut
            ? `Keyplane did not answer within ${this.#timeoutMs} ms (${spec.method} ${spec.path})`
            : `cannot reach Keyplane at ${this.baseUrl}: ${(err as Error).message}`,
          cause: err,
        });
      }
      if (res.ok) {
        if (spec.expect === 'none' || res.status === 204) {
          await res.body?.cancel();
          return undefined as T;
        }
        return (spec.expect === 'text' ? await res.text() : await res.json()) as T;
      }
      const text = await res.text();
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: a proxy's error page; the status speaks for it
      }
      const error = errorFromResponse(res.status, res.headers, parsed);
      if (last || !RETRY_STATUSES.has(res.status)) throw error;
      const hinted = error.retryAfter !== null ? error.retryAfter * 1000 : 0;
      await sleep(Math.min(MAX_RETRY_AFTER_MS, Math.max(hinted, this.#backoff(attempt))));
    }
  }

  #backoff(attempt: number): number {
    const base = this.#retryDelayMs * 2 ** attempt;
    return base / 2 + Math.random() * (base / 2);
  }
}
