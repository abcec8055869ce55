import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { AuthContext, MaybePromise, VerifyCode, VerifyResult } from '../keys/index.ts';
import { AppError, type ErrorCode } from '../lib/errors.ts';
import type { Services } from '../services.ts';
import type { App } from './app.ts';
import { keyHashOfSession } from './dashboard-cookie.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated client on /v1 routes (set by requireClient). */
    client: AuthContext | null;
    verification: VerifyResult | null;
  }
}

/** SPEC §2's HTTP mapping of verification outcomes. */
export const OUTCOME: Record<Exclude<VerifyCode, 'VALID'>, { code: ErrorCode; message: string }> = {
  MALFORMED: { code: 'unauthorized', message: 'malformed API key' },
  NOT_FOUND: { code: 'unauthorized', message: 'unknown API key' },
  REVOKED: { code: 'unauthorized', message: 'API key revoked' },
  EXPIRED: { code: 'unauthorized', message: 'API key expired' },
  CLIENT_SUSPENDED: { code: 'client_suspended', message: 'client suspended' },
  IP_NOT_ALLOWED: { code: 'ip_not_allowed', message: 'request address not allowed for this key' },
  INSUFFICIENT_SCOPE: { code: 'insufficient_scope', message: 'API key lacks the required scope' },
  RATE_LIMITED: { code: 'rate_limited', message: 'rate limit exceeded' },
  USAGE_EXCEEDED: { code: 'usage_exceeded', message: 'usage credits exhausted' },
};

/**
 * The client key of a request: `X-API-Key`, else `Authorization: Bearer`. A duplicated header
 * arrives as an array (or a comma-joined string) and is never a valid key.
 */
export function clientKeyOf(request: FastifyRequest): string | null {
  const x = request.headers['x-api-key'];
  if (x !== undefined) return typeof x === 'string' ? x.trim() : '';
  const auth = request.headers.authorization;
  if (typeof auth !== 'string') return null;
  const m = /^Bearer\s+(.*)$/i.exec(auth);
  return m ? m[1]!.trim() : '';
}

/** RateLimit-* headers (delta seconds until reset, as the IETF draft). */
export function rateLimitHeaders(
  rl: NonNullable<VerifyResult['ratelimit']>,
  nowMs: number,
): Record<string, string> {
  const resetSeconds = Math.max(0, Math.ceil((rl.reset - nowMs) / 1000));
  return {
    'ratelimit-limit': String(rl.limit),
    'ratelimit-remaining': String(Math.max(0, rl.remaining)),
    'ratelimit-reset': String(resetSeconds),
  };
}

export function registerClientAuth(app: App): void {
  app.decorateRequest('client', null);
  app.decorateRequest('verification', null);
}

/** Route template of a request, as metering and rate limits name endpoints: `GET /v1/keys/:id`. */
export function endpointOf(request: FastifyRequest): string {
  // The proxy names its calls by provider (`POST /v1/proxy/gemini/*`) for prices and limits alike.
  return (
    request.meterEndpoint ?? request.endpoint ?? `${request.method} ${request.url.split('?')[0]}`
  );
}

/**
 * preHandler for client routes: verifies the key (one function: keys.verify), maps the outcome
 * to 401/403/429 per SPEC §2, and puts the client on `request.client`.
 *
 * Callback style: a cached key under an in-process limit is verified without a promise, so the
 * hot path makes none here; whatever had to wait (storage, Redis, credits) continues when it
 * settles.
 */
export function requireClient(
  services: Services,
  opts: { scope?: string } = {},
): preHandlerHookHandler {
  const required = opts.scope ? [opts.scope] : undefined;
  return function clientAuth(request, reply, done) {
    const key = clientKeyOf(request);
    const endpoint = endpointOf(request);
    // No key header at all: the dashboard's client session cookie may stand in for the key.
    if (key === null) {
      bySession(services, request, reply, required, endpoint).then(() => done(), done);
      return;
    }
    if (!key) return done(missingKey(services, request, endpoint));
    let result: MaybePromise<VerifyResult>;
    try {
      result = services.keys.verify(key, { scopes: required, ip: request.ip, endpoint });
    } catch (err) {
      return done(err as Error);
    }
    if (result instanceof Promise) {
      result.then((r) => admit(services, request, reply, r, key, endpoint)).then(done, done);
    } else done(admit(services, request, reply, result, key, endpoint));
  };
}

function missingKey(services: Services, request: FastifyRequest, endpoint: string): AppError {
  void services.keys.reportFailure({ code: 'MISSING', ip: request.ip, endpoint });
  return new AppError('unauthorized', 'API key required (X-API-Key or Authorization: Bearer)');
}

async function bySession(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  scopes: string[] | undefined,
  endpoint: string,
): Promise<void> {
  const hash = await keyHashOfSession(services, request);
  if (!hash) throw missingKey(services, request, endpoint);
  const result = await services.keys.verifyHash(hash, { scopes, ip: request.ip, endpoint });
  const err = admit(services, request, reply, result, null, endpoint);
  if (err) throw err;
}

/**
 * A verification's outcome on the request: the client and RateLimit-* headers when valid,
 * else the error to answer with (the failure reported, never with the key itself).
 */
function admit(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  result: VerifyResult,
  key: string | null,
  endpoint: string,
): AppError | undefined {
  const nowMs = services.clock.nowMs();
  const headers = result.ratelimit ? rateLimitHeaders(result.ratelimit, nowMs) : undefined;
  if (!result.valid) {
    void services.keys.reportFailure({
      code: result.code,
      ip: request.ip,
      endpoint,
      rawKey: key,
      keyId: result.keyId,
      clientId: result.clientId,
    });
    if (result.code === 'USAGE_EXCEEDED' && result.reason === 'budget') {
      // A hard budget: the call would exceed it; it has room again when its period ends.
      const retry = Math.max(1, Math.ceil(((result.budgetResetAt ?? nowMs) - nowMs) / 1000));
      return new AppError('budget_exceeded', 'this call would exceed a hard budget', {
        headers: { ...headers, 'retry-after': String(retry) },
        context: { outcome: result.code, reason: 'budget', budgetId: result.budgetId },
      });
    }
    const { code, message } = OUTCOME[result.code as Exclude<VerifyCode, 'VALID'>];
    let outHeaders = headers;
    if (result.code === 'RATE_LIMITED' || result.code === 'USAGE_EXCEEDED') {
      // Credits come back at the next refill (a day when they never refill); a rate limit
      // frees a slot at its reset.
      const retryAt =
        result.code === 'USAGE_EXCEEDED'
          ? (result.creditsResetAt ?? nowMs + 86_400_000)
          : (result.ratelimit?.reset ?? nowMs + 1000);
      const retry = Math.max(1, Math.ceil((retryAt - nowMs) / 1000));
      outHeaders = { ...headers, 'retry-after': String(retry) };
    }
    return new AppError(code, message, { headers: outHeaders, context: { outcome: result.code } });
  }
  if (headers) reply.headers(headers);
  request.client = result.auth!;
  request.verification = result;
  return undefined;
}
