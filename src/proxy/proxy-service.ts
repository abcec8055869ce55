import { isProvider, type Provider } from '../credentials/index.ts';
import { AppError } from '../lib/errors.ts';
import { answer } from './proxy-answer.ts';
import {
  createBodyLimiter,
  proxyEndpoint,
  secretNeedles,
  upstreamRequestHeaders,
} from './proxy-fns.ts';
import { declaredLength, routeOf } from './proxy-route.ts';
import { send } from './proxy-send.ts';
import {
  PROXY_BODY_LIMIT,
  type ProxyAnswer,
  type ProxyCall,
  type ProxyContext,
  type ProxyServiceDeps,
} from './proxy-types.ts';
import { createUpstreamPools } from './upstream-pools.ts';

export {
  PROXY_ANSWER_LIMIT,
  PROXY_BODY_LIMIT,
  PROXY_TIMEOUT_MS,
  type ProxyAnswer,
  type ProxyCall,
  type ProxyServiceDeps,
} from './proxy-types.ts';

const BODYLESS = new Set(['GET', 'HEAD']);

/**
 * The upstream proxy (SPEC §3): a client's call to `/v1/proxy/{provider}/{path}` goes to the
 * provider's configured base URL — never another host — with the credential the vault resolves
 * for that client (its own, the operator's, or in development the environment) injected the
 * provider's way. Bodies stream both ways; the secret never comes back, even when echoed.
 * Its steps: the route (proxy-route), the upstream call (proxy-send), the answer (proxy-answer).
 */
export function createProxyService(deps: ProxyServiceDeps) {
  const ctx: ProxyContext = {
    deps,
    logger: deps.logger,
    maxBodyBytes: deps.maxBodyBytes ?? PROXY_BODY_LIMIT,
    pools: createUpstreamPools(),
  };
  return {
    /** The metered endpoint of a call, or null for an unknown provider (metered by route). */
    endpointOf(method: string, provider: string): string | null {
      return isProvider(provider) ? proxyEndpoint(method, provider) : null;
    },
    forward: (call: ProxyCall) => forward(ctx, call),
    close: () => ctx.pools.close(),
  };
}

async function resolveSecret(ctx: ProxyContext, call: ProxyCall, provider: Provider) {
  try {
    return await ctx.deps.credentials.resolve(
      { clientId: call.clientId, provider, requestId: call.requestId },
      call.actor,
    );
  } catch (err) {
    // resolve answers "nothing to use" as not_found; the proxy names it as a missing dependency.
    if (err instanceof AppError && err.code === 'not_found') {
      throw new AppError('no_credential', err.message, { context: { provider } });
    }
    throw err;
  }
}

/** The request body through the limiter, or null when the call has none to send. */
function bodyOf(ctx: ProxyContext, call: ProxyCall, method: string, length: number | null) {
  const chunked = call.headers['transfer-encoding'] !== undefined;
  const hasBody = call.body !== null && !BODYLESS.has(method) && (chunked || !!length);
  if (!hasBody) return null;
  const limiter = createBodyLimiter(ctx.maxBodyBytes);
  const source = call.body!;
  // Not pipeline(): destroying the incoming request would destroy the client's socket.
  source.on('error', (err) => limiter.destroy(err));
  source.on('aborted', () => limiter.destroy(new Error('request body aborted')));
  source.pipe(limiter);
  return limiter;
}

async function forward(ctx: ProxyContext, call: ProxyCall): Promise<ProxyAnswer> {
  const r = routeOf(ctx.deps.providers, call.provider, call.path, call.query);
  const method = call.method.toUpperCase();
  const length = BODYLESS.has(method) ? 0 : declaredLength(call.headers);
  if (length !== null && length > ctx.maxBodyBytes) {
    throw new AppError('payload_too_large', `request body exceeds ${ctx.maxBodyBytes} bytes`);
  }
  const resolved = await resolveSecret(ctx, call, r.provider);
  const secret = resolved.credentials.apiKey;
  if (!secret) throw new AppError('not_supported', `${r.provider} credential has no apiKey`);
  const needles = secretNeedles(resolved.credentials);
  const limiter = bodyOf(ctx, call, method, length);
  const headers = upstreamRequestHeaders(call.headers, r.injection, secret);
  if (!limiter) delete headers['content-length'];
  const res = await send(ctx, r, call, method, headers, limiter);
  return answer(ctx, r, call, res, needles);
}

export type ProxyService = ReturnType<typeof createProxyService>;
