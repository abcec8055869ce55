import { createHash } from 'node:crypto';
import { Keyplane } from './client.ts';
import { KeyplaneError } from './errors.ts';
import { TtlCache } from './ttl-cache.ts';
import type { Environment, VerifyCode, VerifyInput, VerifyResult } from './types.ts';

/** What the middleware puts on a request whose key passed. */
export interface KeyplaneContext {
  client: { id: string };
  key: {
    id: string;
    environment: Environment;
    scopes: string[];
    meta: Record<string, unknown>;
  };
  /** credits left after this call; null when the key has no credit limit */
  remaining: number | null;
  /**
   * The price Keyplane reserved for this call on the client's budgets (absent when none): the
   * call's usage event names it, and settles it at the call's real price (a 5xx is refunded).
   */
  reservationId?: string;
}

export interface VerifierOptions {
  /** A Keyplane client holding an admin token with scope `verify`… */
  keyplane?: Keyplane;
  /** …or where to reach Keyplane and the token to use. */
  baseUrl?: string;
  adminToken?: string;
  /** Per-verification timeout (default 5000 ms). */
  timeoutMs?: number;
  /**
   * How long a valid answer is reused (default 5000 ms; 0 = never). Only answers without a
   * per-call limit are reused: a key with credits or a rate limit, or a call Keyplane reserved
   * a price for on a budget (its answer has a `reservationId`), is checked on every call, so
   * Keyplane counts each one. A revoked key stops working within this time.
   */
  cacheTtlMs?: number;
  /** How long a refusal is reused (default 1000 ms; 0 = never). Rate-limit refusals never are. */
  negativeCacheTtlMs?: number;
  /** Most answers held (default 10 000); the least recently used go first. */
  cacheSize?: number;
  /** The cache's clock in epoch ms (default Date.now); tests move it to expire the cache. */
  now?: () => number;
}

export interface Verification {
  result: VerifyResult;
  /** answered from the local cache, without asking Keyplane */
  cached: boolean;
}

/** A refused or failed check, as the middleware answers it (SPEC §2's mapping). */
export interface Denial {
  status: 401 | 403 | 429 | 503;
  code: string;
  message: string;
  headers: Record<string, string>;
}

/** The outcome of checking one request. */
export type Check =
  | { ok: true; context: KeyplaneContext; headers: Record<string, string> }
  | { ok: false; denial: Denial };

const DENIALS: Record<Exclude<VerifyCode, 'VALID'>, Omit<Denial, 'headers'>> = {
  MALFORMED: { status: 401, code: 'unauthorized', message: 'malformed API key' },
  NOT_FOUND: { status: 401, code: 'unauthorized', message: 'unknown API key' },
  REVOKED: { status: 401, code: 'unauthorized', message: 'API key revoked' },
  EXPIRED: { status: 401, code: 'unauthorized', message: 'API key expired' },
  CLIENT_SUSPENDED: { status: 403, code: 'client_suspended', message: 'client suspended' },
  IP_NOT_ALLOWED: {
    status: 403,
    code: 'ip_not_allowed',
    message: 'request address not allowed for this key',
  },
  INSUFFICIENT_SCOPE: {
    status: 403,
    code: 'insufficient_scope',
    message: 'API key lacks the required scope',
  },
  RATE_LIMITED: { status: 429, code: 'rate_limited', message: 'rate limit exceeded' },
  USAGE_EXCEEDED: { status: 429, code: 'usage_exceeded', message: 'usage credits exhausted' },
};

/**
 * The client key of a request: `X-API-Key`, else `Authorization: Bearer …`. Empty string when
 * a header is present but unusable (a duplicated header, `Bearer` with nothing after it).
 */
export function keyFromHeaders(
  header: (name: string) => string | string[] | undefined | null,
): string | null {
  const x = header('x-api-key');
  if (x !== undefined && x !== null) return typeof x === 'string' ? x.trim() : '';
  const auth = header('authorization');
  if (typeof auth !== 'string') return null;
  const m = /^Bearer +(\S+) *$/i.exec(auth);
  return m ? m[1]! : '';
}

/** `RateLimit-*` (seconds until reset) and, for refusals, `Retry-After`. */
export function rateLimitHeaders(result: VerifyResult, nowMs: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const rl = result.ratelimit;
  if (rl) {
    headers['ratelimit-limit'] = String(rl.limit);
    headers['ratelimit-remaining'] = String(Math.max(0, rl.remaining));
    headers['ratelimit-reset'] = String(Math.max(0, Math.ceil((rl.reset - nowMs) / 1000)));
  }
  if (result.code === 'RATE_LIMITED' || result.code === 'USAGE_EXCEEDED') {
    // Credits do not come back by waiting a window: an hour is an honest hint.
    headers['retry-after'] = String(rl ? Math.max(1, Math.ceil((rl.reset - nowMs) / 1000)) : 3600);
  }
  return headers;
}

/**
 * Verifies client keys through `POST /admin/v1/verify`, with a short local cache so that a busy
 * service does not ask Keyplane on every call. One verifier is shared by every route of a
 * service (the middleware of each framework takes it).
 *
 * @example
 *   import { KeyVerifier } from '@keyplane/sdk';
 *
 *   const verifier = new KeyVerifier({ baseUrl: 'http://127.0.0.1:8080', adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const check = await verifier.check({ key: 'kp_live_…', scopes: ['video:write'], ip: '203.0.113.7' });
 *   if (!check.ok) console.log(check.denial.status, check.denial.code); // 401 unauthorized
 */
export class KeyVerifier {
  readonly keyplane: Keyplane;
  readonly #ttl: number;
  readonly #negativeTtl: number;
  readonly #cache: TtlCache<VerifyResult>;
  readonly #now: () => number;
  /** Verifications asked of Keyplane, and answers served from the cache. */
  readonly stats = { remote: 0, cached: 0 };

  constructor(options: VerifierOptions) {
    this.keyplane =
      options.keyplane ??
      new Keyplane({
        baseUrl: options.baseUrl ?? '',
        adminToken: options.adminToken,
        timeoutMs: options.timeoutMs ?? 5000,
        retries: 0,
      });
    this.#ttl = options.cacheTtlMs ?? 5000;
    this.#negativeTtl = options.negativeCacheTtlMs ?? 1000;
    this.#cache = new TtlCache(options.cacheSize ?? 10_000);
    this.#now = options.now ?? Date.now;
  }

  /** Keyplane's answer for a key (from the cache when allowed). Throws KeyplaneError when unreachable. */
  async verify(input: VerifyInput): Promise<Verification> {
    const now = this.#now();
    const id = cacheKey(input);
    const hit = this.#cache.get(id, now);
    if (hit) {
      this.stats.cached++;
      return { result: hit, cached: true };
    }
    this.stats.remote++;
    const result = await this.keyplane.verify(input);
    const ttl = this.#ttlFor(result);
    if (ttl > 0) this.#cache.set(id, result, now + ttl);
    return { result, cached: false };
  }

  /**
   * Checks one request's key and maps the outcome to what the middleware answers: 401 for no
   * key / MALFORMED / NOT_FOUND / REVOKED / EXPIRED, 403 for CLIENT_SUSPENDED / IP_NOT_ALLOWED /
   * INSUFFICIENT_SCOPE, 429 (with Retry-After) for RATE_LIMITED / USAGE_EXCEEDED, and 503 when
   * Keyplane cannot be reached (fail closed).
   */
  async check(input: { key: string | null } & Omit<VerifyInput, 'key'>): Promise<Check> {
    if (!input.key) {
      return {
        ok: false,
        denial: {
          status: 401,
          code: 'unauthorized',
          message: 'API key required (X-API-Key or Authorization: Bearer)',
          headers: {},
        },
      };
    }
    let result: VerifyResult;
    try {
      ({ result } = await this.verify({ ...input, key: input.key }));
    } catch (err) {
      if (!(err instanceof KeyplaneError)) throw err;
      return {
        ok: false,
        denial: {
          status: 503,
          code: 'service_unavailable',
          message: 'API key verification is unavailable; try again shortly',
          headers: { 'retry-after': '1' },
        },
      };
    }
    // Keyplane's reset times are wall-clock epochs: compare them with the real time.
    const headers = rateLimitHeaders(result, Date.now());
    if (!result.valid || !result.clientId || !result.keyId || !result.environment) {
      const d = DENIALS[result.code as Exclude<VerifyCode, 'VALID'>] ?? DENIALS.NOT_FOUND;
      return { ok: false, denial: { ...d, headers } };
    }
    return {
      ok: true,
      headers,
      context: {
        client: { id: result.clientId },
        key: {
          id: result.keyId,
          environment: result.environment,
          scopes: result.scopes,
          meta: result.meta,
        },
        remaining: result.remaining,
        ...(result.reservationId ? { reservationId: result.reservationId } : {}),
      },
    };
  }

  /** Forgets every cached answer (after revoking a key in the same process, say). */
  clear(): void {
    this.#cache.clear();
  }

  #ttlFor(r: VerifyResult): number {
    // A reservation is one call's: a second call must reserve its own.
    if (r.valid) {
      return r.ratelimit === null && r.remaining === null && !r.reservationId ? this.#ttl : 0;
    }
    return r.code === 'RATE_LIMITED' ? 0 : this.#negativeTtl;
  }
}

/** The raw key never sits in the cache: its SHA-256 does, with what else shapes the answer. */
function cacheKey(input: VerifyInput): string {
  return createHash('sha256')
    .update(input.key)
    .update('\u0000')
    .update(input.ip ?? '')
    .update('\u0000')
    .update(input.endpoint ?? '')
    .update('\u0000')
    .update([...(input.scopes ?? [])].sort().join(','))
    .digest('base64url');
}
