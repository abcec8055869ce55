/**
 * The upstream proxy's public surface: what other modules may import. Inside the module,
 * files import each other directly.
 *
 * - the service (`createProxyService`): `forward` a client's call to its provider with the
 *   resolved credential injected, `endpointOf` (the metered name), `close` (the pools);
 * - the types of a call and its answer, and the proxy's limits;
 * - the URL helpers the HTTP route uses to split and decode the proxied path.
 */
export {
  createProxyService,
  PROXY_ANSWER_LIMIT,
  PROXY_BODY_LIMIT,
  PROXY_TIMEOUT_MS,
  type ProxyAnswer,
  type ProxyCall,
  type ProxyService,
  type ProxyServiceDeps,
} from './proxy-service.ts';
export { decodeSlashes, splitProxyUrl } from './proxy-fns.ts';
export { DEFAULT_MAX_CONNECTIONS } from './upstream-pools.ts';
