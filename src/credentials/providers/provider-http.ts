import { isTransientStatus } from '../resilience-fns.ts';
import type { ProbeContext, ProbeResult } from './provider-types.ts';

export interface ProbeRequest {
  method: 'GET' | 'POST';
  /** Appended to the base URL (which may carry a path prefix). */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Extra check on a 2xx answer (e.g. an access_token must be present). */
  accept?: (body: string) => string | null;
}

export function joinUrl(baseUrl: string, path: string): URL {
  return new URL(baseUrl.replace(/\/+$/, '') + path);
}

const MAX_BODY = 64 * 1024;

async function readBody(res: Response): Promise<string> {
  const buf = Buffer.from(await res.arrayBuffer());
  return buf.subarray(0, MAX_BODY).toString('utf8');
}

/**
 * One HTTP call to a provider with a hard timeout. The provider's own error text is never
 * passed on: some providers echo part of the key they refused.
 */
export async function probe(
  ctx: ProbeContext,
  provider: string,
  req: ProbeRequest,
  url: URL = joinUrl(ctx.baseUrl, req.path),
): Promise<ProbeResult> {
  let res: Response;
  try {
    res = await ctx.fetch(url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
  } catch (err) {
    const name = (err as Error)?.name;
    const timedOut = name === 'TimeoutError' || name === 'AbortError';
    return {
      ok: false,
      transient: true,
      reason: timedOut
        ? `${provider} did not answer within ${ctx.timeoutMs} ms`
        : `${provider} is unreachable (${(err as { cause?: { code?: string } })?.cause?.code ?? 'network error'})`,
    };
  }
  let body: string;
  try {
    body = await readBody(res);
  } catch {
    return { ok: false, transient: true, reason: `${provider} broke off its answer` };
  }
  if (res.status >= 200 && res.status < 300) {
    const problem = req.accept?.(body) ?? null;
    if (problem)
      return { ok: false, transient: false, reason: `${provider}: ${problem}`, status: res.status };
    return { ok: true, value: { message: `${provider} accepted the credential` } };
  }
  if (isTransientStatus(res.status)) {
    return {
      ok: false,
      transient: true,
      reason: `${provider} answered ${res.status}`,
      status: res.status,
    };
  }
  return {
    ok: false,
    transient: false,
    reason: `${provider} refused the credential (HTTP ${res.status})`,
    status: res.status,
  };
}

/** A 2xx token answer must carry an access token. */
export function requireAccessToken(body: string): string | null {
  try {
    const json = JSON.parse(body) as { access_token?: unknown };
    return typeof json.access_token === 'string' && json.access_token
      ? null
      : 'token answer without access_token';
  } catch {
    return 'token answer is not JSON';
  }
}

export function form(values: Record<string, string>): string {
  return new URLSearchParams(values).toString();
}
