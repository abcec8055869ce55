import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Actor } from '../audit/index.ts';
import type { CredentialsService, Provider, ProviderSettings } from '../credentials/index.ts';
import type { Logger } from '../infra/logger.ts';
import type { Injection } from './proxy-fns.ts';
import type { UpstreamPools } from './upstream-pools.ts';

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

/** What the proxy's parts share: its dependencies, the body limit and the upstream pools. */
export interface ProxyContext {
  deps: ProxyServiceDeps;
  logger: Logger;
  maxBodyBytes: number;
  pools: UpstreamPools;
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

/** Where a call goes: the provider, how its key is sent, the upstream origin and path. */
export interface Route {
  provider: Provider;
  injection: Injection;
  origin: string;
  path: string;
  timeoutMs: number;
  maxConnections: number | undefined;
}
