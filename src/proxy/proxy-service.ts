import type { IncomingHttpHeaders } from 'node:http';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import type { Actor } from '../audit/audit-types.ts';
import type { CredentialsService, ProviderSettings } from '../credentials/credentials-service.ts';
import type { Provider } from '../credentials/credentials-types.ts';
import { PROVIDER_SPECS, isProvider } from '../credentials/providers/index.ts';
import type { Logger } from '../infra/logger.ts';
import { AppError } from '../lib/errors.ts';
import {
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
} from './proxy-fns.ts';

/** Largest request body the proxy forwards (the rest of the API keeps its 1 MiB). */
export const PROXY_BODY_LIMIT = 10 * 1024 * 1024;
/** Wait for the provider's response headers, and at most this long between body chunks. */
export const PROXY_TIMEOUT_MS = 30_000;

export interface ProxyServiceDeps {
  credentials: Pick<CredentialsService, 'resolve'>;
  /** config.providers: baseUrl, authHeader, policy, timeoutMs. */
  providers: Record<string, ProviderSettings>;
  logger: Logger;
  maxBodyBytes?: number;
  /** The HTTP client (tests may pass their own); default: an Agent owned and closed here. */
  dispatcher?: Dispatcher;
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
}

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
 * The upstream proxy (SPEC §3): a client's call to `/v1/proxy/{provider}/{path}` goes to the
 * provider's configured base URL — never another host — with the credential the vault resolves
 * for that client (its own, the operator's, or in development the environment) injected the
 * provider's way. Bodies stream both ways; the secret never comes back, even when echoed.
 */
export function createProxyService(deps: ProxyServiceDeps) {
  const { credentials, logger } = deps;
  const maxBodyBytes = deps.maxBodyBytes ?? PROXY_BODY_LIMIT;
  const owned = deps.dispatcher ? null : new Agent({ connect: { timeout: 10_000 } });
  const dispatcher: Dispatcher = deps.dispatcher ?? owned!;

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

      let res: Dispatcher.ResponseData;
      try {
        res = await dispatcher.request({
          origin: r.origin,
          path: r.path,
          method: method as Dispatcher.HttpMethod,
          headers,
          body: limiter,
          signal: call.signal,
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
        const kind = classifyUpstreamError(err);
        const code = upstreamErrorCode(err);
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
        throw new AppError('bad_gateway', `${r.provider} could not be reached (${code})`);
      }

      const encoding = res.headers['content-encoding'];
      const decoder = decoderFor(Array.isArray(encoding) ? encoding.join(',') : (encoding ?? ''));
      if (decoder === 'unknown') {
        res.body.destroy();
        throw new AppError(
          'bad_gateway',
          `${r.provider} answered in a content encoding the proxy cannot inspect`,
        );
      }
      const scrubber = createScrubber(needles);
      const onStreamError = (err: NodeJS.ErrnoException | null) => {
        if (!err) return;
        logger.warn(
          { provider: r.provider, clientId: call.clientId, upstreamError: upstreamErrorCode(err) },
          'proxy response stream ended early',
        );
      };
      if (decoder) pipeline(res.body, decoder, scrubber, onStreamError);
      else pipeline(res.body, scrubber, onStreamError);
      return {
        status: res.statusCode,
        headers: clientResponseHeaders(res.headers, needles, decoder !== null),
        body: scrubber,
      };
    },

    async close(): Promise<void> {
      await owned?.close();
    },
  };
}

export type ProxyService = ReturnType<typeof createProxyService>;
