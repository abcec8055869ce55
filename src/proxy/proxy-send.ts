import type { Dispatcher } from 'undici';
import { AppError } from '../lib/errors.ts';
import {
  classifyUpstreamError,
  upstreamErrorCode,
  type createBodyLimiter,
  type UpstreamFailure,
} from './proxy-fns.ts';
import type { ProxyCall, ProxyContext, Route } from './proxy-types.ts';

/** The 502/504 a failed upstream call is answered with: a fixed text, never the error's own. */
const FAILURE_MESSAGES: Record<Exclude<UpstreamFailure, 'timeout' | 'aborted'>, string> = {
  unreachable: 'could not be reached',
  reset: 'closed the connection before answering',
  malformed: 'answered with something that is not HTTP',
};

/**
 * The upstream call on the origin's pooled connections, up to the provider's response headers.
 * A failure is logged as a code and answered 413, 502 or 504 (or 400 when the client left).
 */
export async function send(
  ctx: ProxyContext,
  r: Route,
  call: ProxyCall,
  method: string,
  headers: Record<string, string | string[]>,
  limiter: ReturnType<typeof createBodyLimiter> | null,
): Promise<Dispatcher.ResponseData> {
  const pool = ctx.pools.poolFor(r.origin, {
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
    throw failure(ctx, r, call, err, timedOut, limiter?.exceeded ?? false);
  } finally {
    clearTimeout(timer);
  }
}

function failure(
  ctx: ProxyContext,
  r: Route,
  call: ProxyCall,
  err: unknown,
  timedOut: boolean,
  bodyTooLarge: boolean,
): AppError {
  if (bodyTooLarge) {
    // The rest of the body is never read: the connection cannot serve another request.
    return new AppError('payload_too_large', `request body exceeds ${ctx.maxBodyBytes} bytes`, {
      headers: { connection: 'close' },
    });
  }
  const kind = timedOut ? 'timeout' : classifyUpstreamError(err);
  const code = timedOut ? 'DEADLINE' : upstreamErrorCode(err);
  ctx.logger.warn(
    { provider: r.provider, clientId: call.clientId, upstreamError: code, kind },
    'proxy upstream call failed',
  );
  if (kind === 'timeout') {
    return new AppError(
      'upstream_timeout',
      `${r.provider} did not answer within ${r.timeoutMs} ms`,
    );
  }
  if (kind === 'aborted') return new AppError('bad_request', 'the client went away');
  return new AppError('bad_gateway', `${r.provider} ${FAILURE_MESSAGES[kind]} (${code})`);
}
