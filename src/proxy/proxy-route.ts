import type { IncomingHttpHeaders } from 'node:http';
import { PROVIDER_SPECS, isProvider, type ProviderSettings } from '../credentials/index.ts';
import { AppError } from '../lib/errors.ts';
import { checkUpstreamPath, injectionFor, isHeaderName, upstreamTarget } from './proxy-fns.ts';
import { PROXY_TIMEOUT_MS, type Route } from './proxy-types.ts';

/** Where a call goes, or why it cannot go anywhere. No credential is touched yet. */
export function routeOf(
  providers: Record<string, ProviderSettings>,
  provider: string,
  path: string,
  query: string,
): Route {
  if (!isProvider(provider)) throw new AppError('not_found', `unknown provider "${provider}"`);
  const settings = providers[provider] ?? {};
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

/** The request's Content-Length, null without one; anything but digits is refused. */
export function declaredLength(headers: IncomingHttpHeaders): number | null {
  const raw = headers['content-length'];
  if (raw === undefined) return null;
  if (!/^\d{1,15}$/.test(raw)) throw new AppError('bad_request', 'invalid Content-Length');
  return Number(raw);
}
