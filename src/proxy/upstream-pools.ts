import { Pool } from 'undici';

/** Connections kept open to one provider origin unless `providers.<name>.maxConnections` says. */
export const DEFAULT_MAX_CONNECTIONS = 64;
/** An idle upstream connection is closed after this long (the provider may close it sooner). */
const KEEP_ALIVE_MS = 30_000;

export interface PoolSettings {
  /** Most connections open to the origin at once; more calls wait for a free one. */
  maxConnections?: number;
  /** Longest wait for the TCP (and TLS) connection to be set up. */
  connectTimeoutMs: number;
}

/**
 * The proxy's upstream connections: one undici Pool per provider origin, created on first use
 * and reused by every later call to that origin. Keep-alive is on and pipelining off (one call
 * at a time per connection: a provider that stalls on one call holds up nothing else). A
 * connection that fails (reset, garbage, timeout) is dropped by undici and the next call opens a
 * fresh one, so the pool recovers by itself once the provider answers again.
 */
export function createUpstreamPools() {
  const pools = new Map<string, Pool>();

  return {
    /** The pool for `origin`; its size and connect timeout are fixed by the first call. */
    poolFor(origin: string, settings: PoolSettings): Pool {
      let pool = pools.get(origin);
      if (!pool) {
        pool = new Pool(origin, {
          connections: settings.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
          pipelining: 1,
          keepAliveTimeout: KEEP_ALIVE_MS,
          connect: { timeout: settings.connectTimeoutMs },
        });
        pools.set(origin, pool);
      }
      return pool;
    },

    async close(): Promise<void> {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((p) => p.close()));
    },
  };
}

export type UpstreamPools = ReturnType<typeof createUpstreamPools>;
