import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { AuthContext, VerifyCode, VerifyResult } from '../keys/keys-types.ts';
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
 */
export function requireClient(
  services: Services,
  opts: { scope?: string } = {},
): preHandlerAsyncHookHandler {
  const required = opts.scope ? [opts.scope] : undefined;
  return async function clientAuth(request: FastifyRequest, reply: FastifyReply) {
    const key = clientKeyOf(request);
    const endpoint = endpointOf(request);
    // No key header at all: the dashboard's client session cookie may stand in for the key.
    const sessionKeyHash = key === null ? await keyHashOfSession(services, request) : null;
    if (!key && !sessionKeyHash) {
      void services.keys.reportFailure({ code: 'MISSING', ip: request.ip, endpoint });
      throw new AppError('unauthorized', 'API key required (X-API-Key or Authorization: Bearer)');
    }
    const result = sessionKeyHash
      ? await services.keys.verifyHash(sessionKeyHash, {
          scopes: required,
          ip: request.ip,
          endpoint,
        })
      : await services.keys.verify(key!, { scopes: required, ip: request.ip, endpoint });
    const nowMs = services.clock.now().getTime();
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
      throw new AppError(code, message, { headers: outHeaders, context: { outcome: result.code } });
    }
    if (headers) reply.headers(headers);
    request.client = result.auth!;
    request.verification = result;
  };
}
