import type { IncomingHttpHeaders } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Dispatcher } from 'undici';
import type { Actor } from '../audit/audit-types.ts';
import type { CredentialsService, ProviderSettings } from '../credentials/credentials-service.ts';
import type { Provider } from '../credentials/credentials-types.ts';
import { PROVIDER_SPECS, isProvider } from '../credentials/providers/index.ts';
import type { Logger } from '../infra/logger.ts';
import { AppError } from '../lib/errors.ts';
import {
  AnswerTooLargeError,
  checkUpstreamPath,
  classifyUpstreamError,
  clientResponseHeaders,
  createBodyLimiter,
  createScrubber,
  injectionFor,
  isHeaderName,
  proxyEndpoint,
  secretNeedles,
  upstreamErrorCode,
  upstreamRequestHeaders,
  upstreamTarget,
  type Injection,
  type UpstreamFailure,
} from './proxy-fns.ts';
import { createUpstreamPools } from './upstream-pools.ts';

/** Largest request body the proxy forwards (the rest of the API keeps its 1 MiB). */
export const PROXY_BODY_LIMIT = 10 * 1024 * 1024;
/** Largest answer the proxy passes back (after decoding): more is refused, never buffered. */
export const PROXY_ANSWER_LIMIT = 10 * 1024 * 1024;
/** Wait for the connection and the provider's response headers, and at most this long between body chunks. */
export const PROXY_TIMEOUT_MS = 30_000;

export interface ProxyServiceDeps {
  credentials: Pick<CredentialsService, 'resolve'>;
  /** config.providers: baseUrl, authHeader, policy, timeoutMs, maxConnections. */
  providers: Record<string, ProviderSettings>;
  logger: Logger;
  maxBodyBytes?: number;
}

/** One client call to forward. Paths and queries are raw (still percent-encoded). */
export interface ProxyCall {
  clientId: string;
  provider: string;
  method: string;
  /** Below the provider's base URL, without the leading slash: `v1beta/models`. */
  path: string;
  /** `?…` or ''. */
  query: string;
  headers: IncomingHttpHeaders;
  /** The request body as it arrives; null when there is none. */
  body: Readable | null;
  /** Fires when the client goes away: the upstream call is abandoned. */
  signal?: AbortSignal;
  actor: Actor;
  /** Keyplane's request id: named in the `credential.used` audit entry. */
  requestId?: string;
}

/** The provider's answer, ready to stream to the client. */
export interface ProxyAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Readable;
}

interface Route {
  provider: Provider;
  injection: Injection;
  origin: string;
  path: string;
  timeoutMs: number;
  maxConnections: number | undefined;
}

/** The 502/504 a failed upstream call is answered with: a fixed text, never the error's own. */
const FAILURE_MESSAGES: Record<Exclude<UpstreamFailure, 'timeout' | 'aborted'>, string> = {
  unreachable: 'could not be reached',
  reset: 'closed the connection before answering',
  malformed: 'answered with something that is not HTTP',
};

const BODYLESS = new Set(['GET', 'HEAD']);

function decoderFor(encoding: string): Transform | null | 'unknown' {
  const e = encoding.trim().toLowerCase();
  if (e === '' || e === 'identity') return null;
  if (e === 'gzip' || e === 'x-gzip') return createGunzip();
  if (e === 'deflate') return createInflate();
  if (e === 'br') return createBrotliDecompress();
  return 'unknown';
}

/**
 * `pipeline()` without its per-call cost: in Node 20 pipeline allocates an AbortController and
 * aborts it on every finish, a DOMException with a stack trace (~5% of the proxy's CPU in a
 * profile). An error or an early close anywhere destroys every stage, so the upstream
 * connection is released when the client goes away; `onError` hears the first error once.
 */
function chain(source: Readable, transforms: Transform[], onError: (err: Error) => void): void {
  const stages = [source, ...transforms];
  let failed = false;
  const fail = (err: Error | null) => {
    if (failed) return;
    failed = true;
    if (err) onError(err);
    for (const s of stages) s.destroy();
  };
  let tail = source;
  for (const s of stages) {
    s.on('error', fail);
    s.on('close', () => {
      if (!s.readableEnded) fail(null);
    });
    if (s !== source) tail = tail.pipe(s as Transform);
  }
}

/**
 * The upstream proxy (SPEC §3): a client's call to `/v1/proxy/{provider}/{path}` goes to the
 * provider's configured base URL — never another host — with the credential the vault resolves
 * for that client (its own, the operator's, or in development the environment) injected the
 * provider's way. Bodies stream both ways; the secret never comes back, even when echoed.
 */
export function createProxyService(deps: ProxyServiceDeps) {
  const { credentials, logger } = deps;
  const maxBodyBytes = deps.maxBodyBytes ?? PROXY_BODY_LIMIT;
  const pools = createUpstreamPools();

  /** Where a call goes, or why it cannot go anywhere. No credential is touched yet. */
  function route(provider: string, path: string, query: string): Route {
    if (!isProvider(provider)) throw new AppError('not_found', `unknown provider "${provider}"`);
    const settings = deps.providers[provider] ?? {};
    const injection = injectionFor(provider, settings.authHeader);
    if (!injection) {
      throw new AppError(
        'not_supported',
        `${provider} authenticates by signature or token exchange: the proxy does not forward it (resolve the credential with POST /admin/v1/credentials/resolve instead)`,
      );
    }
    if (!isHeaderName(injection.header)) {
      throw new AppError('not_configured', `providers.${provider}.authHeader is not a header name`);
    }
    const baseUrl = settings.baseUrl ?? PROVIDER_SPECS[provider].defaultBaseUrl;
    if (!baseUrl) {
      throw new AppError(
        'not_configured',
        `no upstream for ${provider}: set providers.${provider}.baseUrl in the config file`,
      );
    }
    const check = checkUpstreamPath(path);
    const target = check.ok ? upstreamTarget(baseUrl, path, query) : null;
    if (!target) {
      const reason = check.ok ? 'it would leave the base URL' : check.reason;
      throw new AppError('bad_request', `proxy path refused: ${reason}`);
    }
    return {
      provider,
      injection,
      ...target,
      timeoutMs: settings.timeoutMs ?? PROXY_TIMEOUT_MS,
      maxConnections: settings.maxConnections,
    };
  }

  function declaredLength(headers: IncomingHttpHeaders): number | null {
    const raw = headers['content-length'];
    if (raw === undefined) return null;
    if (!/^\d{1,15}$/.test(raw)) throw new AppError('bad_request', 'invalid Content-Length');
    return Number(raw);
  }

  async function resolveSecret(call: ProxyCall, provider: Provider) {
    try {
      return await credentials.resolve(
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

  async function send(
    r: Route,
    call: ProxyCall,
    method: string,
    headers: Record<string, string | string[]>,
    limiter: ReturnType<typeof createBodyLimiter> | null,
  ): Promise<Dispatcher.ResponseData> {
    const pool = pools.poolFor(r.origin, {
      maxConnections: r.maxConnections,
      connectTimeoutMs: r.timeoutMs,
    });
    // undici's headersTimeout only starts once the call has a connection: a call queued behind
    // hung ones would wait longer, so the wait for the answer has its own deadline too.
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, r.timeoutMs);
    if (call.signal?.aborted) abort.abort();
    call.signal?.addEventListener('abort', () => abort.abort(), { once: true });
    try {
      return await pool.request({
        path: r.path,
        method: method as Dispatcher.HttpMethod,
        headers,
        body: limiter,
        signal: abort.signal,
        headersTimeout: r.timeoutMs,
        bodyTimeout: r.timeoutMs,
      });
    } catch (err) {
      if (limiter?.exceeded) {
        // The rest of the body is never read: the connection cannot serve another request.
        throw new AppError('payload_too_large', `request body exceeds ${maxBodyBytes} bytes`, {
          headers: { connection: 'close' },
        });
      }
      const kind = timedOut ? 'timeout' : classifyUpstreamError(err);
      const code = timedOut ? 'DEADLINE' : upstreamErrorCode(err);
      logger.warn(
        { provider: r.provider, clientId: call.clientId, upstreamError: code, kind },
        'proxy upstream call failed',
      );
      if (kind === 'timeout') {
        throw new AppError(
          'upstream_timeout',
          `${r.provider} did not answer within ${r.timeoutMs} ms`,
        );
      }
      if (kind === 'aborted') throw new AppError('bad_request', 'the client went away');
      throw new AppError('bad_gateway', `${r.provider} ${FAILURE_MESSAGES[kind]} (${code})`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The provider's answer as the client gets it: decoded if need be, scrubbed, bounded. */
  function answer(
    r: Route,
    call: ProxyCall,
    res: Dispatcher.ResponseData,
    needles: Buffer[],
  ): ProxyAnswer {
    const refuse = (message: string) => {
      res.body.destroy();
      logger.warn(
        { provider: r.provider, clientId: call.clientId },
        `proxy answer refused: ${message}`,
      );
      return new AppError('bad_gateway', `${r.provider} ${message}`);
    };
    const declared = Number(res.headers['content-length']);
    if (declared > PROXY_ANSWER_LIMIT) {
      throw refuse(`answered with more than ${PROXY_ANSWER_LIMIT} bytes`);
    }
    const encoding = res.headers['content-encoding'];
    const decoder = decoderFor(Array.isArray(encoding) ? encoding.join(',') : (encoding ?? ''));
    if (decoder === 'unknown') {
      throw refuse('answered in a content encoding the proxy cannot inspect');
    }
    const scrubber = createScrubber(needles, PROXY_ANSWER_LIMIT);
    const onStreamError = (err: Error) => {
      // Headers are out by now: the client's connection is cut, its answer visibly incomplete.
      const cut = err instanceof AnswerTooLargeError;
      logger.warn(
        {
          provider: r.provider,
          clientId: call.clientId,
          upstreamError: cut ? 'ANSWER_TOO_LARGE' : upstreamErrorCode(err),
        },
        cut
          ? `proxy answer cut at ${PROXY_ANSWER_LIMIT} bytes`
          : 'proxy response stream ended early',
      );
    };
    chain(res.body, decoder ? [decoder, scrubber] : [scrubber], onStreamError);
    return {
      status: res.statusCode,
      headers: clientResponseHeaders(res.headers, needles, decoder !== null),
      body: scrubber,
    };
  }

  return {
    /** The metered endpoint of a call, or null for an unknown provider (metered by route). */
    endpointOf(method: string, provider: string): string | null {
      return isProvider(provider) ? proxyEndpoint(method, provider) : null;
    },

    async forward(call: ProxyCall): Promise<ProxyAnswer> {
      const r = route(call.provider, call.path, call.query);
      const method = call.method.toUpperCase();
      const length = BODYLESS.has(method) ? 0 : declaredLength(call.headers);
      if (length !== null && length > maxBodyBytes) {
        throw new AppError('payload_too_large', `request body exceeds ${maxBodyBytes} bytes`);
      }
      const resolved = await resolveSecret(call, r.provider);
      const secret = resolved.credentials.apiKey;
      if (!secret) throw new AppError('not_supported', `${r.provider} credential has no apiKey`);
      const needles = secretNeedles(resolved.credentials);

      const chunked = call.headers['transfer-encoding'] !== undefined;
      const hasBody = call.body !== null && !BODYLESS.has(method) && (chunked || !!length);
      let limiter: ReturnType<typeof createBodyLimiter> | null = null;
      if (hasBody) {
        limiter = createBodyLimiter(maxBodyBytes);
        const source = call.body!;
        // Not pipeline(): destroying the incoming request would destroy the client's socket.
        source.on('error', (err) => limiter!.destroy(err));
        source.on('aborted', () => limiter!.destroy(new Error('request body aborted')));
        source.pipe(limiter);
      }
      const headers = upstreamRequestHeaders(call.headers, r.injection, secret);
      if (!hasBody) delete headers['content-length'];
      const res = await send(r, call, method, headers, limiter);
      return answer(r, call, res, needles);
    },

    async close(): Promise<void> {
      await pools.close();
    },
  };
}

export type ProxyService = ReturnType<typeof createProxyService>;
