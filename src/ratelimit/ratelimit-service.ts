import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../infra/logger.ts';
import type { Redis } from '../infra/redis.ts';
import type { AuthContext, RateLimitGate, RateLimitState } from '../keys/index.ts';
import type { Clock } from '../lib/clock.ts';
import { createMemoryLimiter } from './memory-limiter.ts';
import { combine, resolveBuckets } from './ratelimit-fns.ts';
import type { LimiterResult, RateLimitsConfig } from './ratelimit-types.ts';
import { createRedisLimiter } from './redis-limiter.ts';

export interface RateLimitServiceDeps {
  config: RateLimitsConfig;
  clock: Clock;
  logger: Logger;
  /** When set, windows live in Redis and hold across every node. */
  redis?: Redis | null;
  registry?: Registry;
}

export type Backend = 'memory' | 'redis' | 'memory_fallback';

/**
 * Sliding-window rate limits, plugged into key verification as its `RateLimitGate`. With Redis
 * the windows are global; while Redis is unreachable each node keeps serving with its local
 * limiter (limits then hold per node), says so in /readyz and the log, and goes back to Redis
 * by itself as soon as the connection is ready again.
 */
export function createRateLimitService(deps: RateLimitServiceDeps) {
  const { config, clock, logger, redis } = deps;
  const memory = createMemoryLimiter();
  const remote = redis ? createRedisLimiter(redis) : null;
  let degraded = false;

  const checks = deps.registry
    ? new Counter({
        name: 'keyplane_ratelimit_checks_total',
        help: 'Rate-limit checks by backend and result (allowed | refused)',
        labelNames: ['backend', 'result'] as const,
        registers: [deps.registry],
      })
    : null;
  const refusals = deps.registry
    ? new Counter({
        name: 'keyplane_ratelimit_refusals_total',
        help: 'Calls refused with 429 by a rate limit, by backend',
        labelNames: ['backend'] as const,
        registers: [deps.registry],
      })
    : null;
  if (deps.registry) {
    // Exported without Redis too (always 0 then), so alerts on it need no `absent()` twin.
    new Gauge({
      name: 'keyplane_ratelimit_degraded',
      help: '1 while Redis is unreachable and limits are enforced per node',
      registers: [deps.registry],
      collect() {
        this.set(redis && (degraded || redis.status !== 'ready') ? 1 : 0);
      },
    });
  }

  function setDegraded(on: boolean, err?: unknown) {
    if (on === degraded) return;
    degraded = on;
    if (on)
      logger.warn(
        { err: err ? { message: (err as Error).message } : undefined },
        'rate limiter: redis unreachable, enforcing limits per node until it returns',
      );
    else logger.info('rate limiter: redis is back, limits are global again');
  }

  /** Redis when configured and reachable, else this node's limiter (said in /readyz and the logs). */
  async function remoteOrLocal(
    limiter: NonNullable<typeof remote>,
    buckets: ReturnType<typeof resolveBuckets>,
    nowMs: number,
  ): Promise<{ backend: Backend; result: LimiterResult }> {
    if (redis?.status === 'ready') {
      try {
        const result = await limiter.check(buckets, nowMs);
        setDegraded(false);
        return { backend: 'redis', result };
      } catch (err) {
        setDegraded(true, err);
      }
    } else setDegraded(true);
    return { backend: 'memory_fallback', result: memory.check(buckets, nowMs) };
  }

  function settle(
    buckets: ReturnType<typeof resolveBuckets>,
    backend: Backend,
    result: LimiterResult,
  ) {
    const state = combine(buckets, result);
    checks?.inc({ backend, result: state.allowed ? 'allowed' : 'refused' });
    if (!state.allowed) refusals?.inc({ backend });
    return state;
  }

  const gate: RateLimitGate = {
    // Not async: without Redis the answer is immediate and the hot path makes no promise.
    check(auth: AuthContext, ctx: { endpoint?: string }) {
      const buckets = resolveBuckets(auth, ctx.endpoint, config);
      if (!buckets.length) return null;
      const nowMs = clock.nowMs();
      if (!remote) return settle(buckets, 'memory', memory.check(buckets, nowMs));
      return remoteOrLocal(remote, buckets, nowMs).then(({ backend, result }) =>
        settle(buckets, backend, result),
      );
    },
  };

  return {
    gate,
    /** Checks one key against its limits (the gate's work, for callers outside verification). */
    check: gate.check,
    /** Which backend answers right now. */
    backend(): Backend {
      if (!redis) return 'memory';
      return degraded || redis.status !== 'ready' ? 'memory_fallback' : 'redis';
    },
    /** For /readyz: throws a "degraded: …" message (the node still serves) while on fallback. */
    async readiness(): Promise<void> {
      if (!redis) return;
      if (redis.status !== 'ready' || degraded) {
        if (redis.status === 'ready') {
          try {
            await redis.ping();
            setDegraded(false);
            return;
          } catch {
            /* still down */
          }
        }
        throw new Error('degraded: redis unreachable, rate limits enforced per node');
      }
    },
  };
}

export type RateLimitService = ReturnType<typeof createRateLimitService>;
export type { RateLimitState };
