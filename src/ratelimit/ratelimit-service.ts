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

type Buckets = ReturnType<typeof resolveBuckets>;

/** What the service's steps share: the limiters, whether Redis is away, the counters. */
interface RateLimitContext {
  logger: Logger;
  redis: Redis | null;
  memory: ReturnType<typeof createMemoryLimiter>;
  state: { degraded: boolean };
  metrics: ReturnType<typeof createRateLimitMetrics>;
}

/**
 * Sliding-window rate limits, plugged into key verification as its `RateLimitGate`. With Redis
 * the windows are global; while Redis is unreachable each node keeps serving with its local
 * limiter (limits then hold per node), says so in /readyz and the log, and goes back to Redis
 * by itself as soon as the connection is ready again.
 */
export function createRateLimitService(deps: RateLimitServiceDeps) {
  const { config, clock, redis = null } = deps;
  const state = { degraded: false };
  const ctx: RateLimitContext = {
    logger: deps.logger,
    redis,
    memory: createMemoryLimiter(),
    state,
    metrics: createRateLimitMetrics(deps.registry, () =>
      redis && (state.degraded || redis.status !== 'ready') ? 1 : 0,
    ),
  };
  const remote = redis ? createRedisLimiter(redis) : null;

  const gate: RateLimitGate = {
    // Not async: without Redis the answer is immediate and the hot path makes no promise.
    check(auth: AuthContext, call: { endpoint?: string }) {
      const buckets = resolveBuckets(auth, call.endpoint, config);
      if (!buckets.length) return null;
      const nowMs = clock.nowMs();
      if (!remote) return settle(ctx, buckets, 'memory', ctx.memory.check(buckets, nowMs));
      return remoteOrLocal(ctx, remote, buckets, nowMs).then(({ backend, result }) =>
        settle(ctx, buckets, backend, result),
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
      return state.degraded || redis.status !== 'ready' ? 'memory_fallback' : 'redis';
    },
    /** For /readyz: throws a "degraded: …" message (the node still serves) while on fallback. */
    readiness: () => readiness(ctx),
  };
}

/** The counters (and the degraded gauge) when a registry is given. */
function createRateLimitMetrics(registry: Registry | undefined, degraded: () => number) {
  if (!registry) return { checks: null, refusals: null };
  const metrics = {
    checks: new Counter({
      name: 'keyplane_ratelimit_checks_total',
      help: 'Rate-limit checks by backend and result (allowed | refused)',
      labelNames: ['backend', 'result'] as const,
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'keyplane_ratelimit_refusals_total',
      help: 'Calls refused with 429 by a rate limit, by backend',
      labelNames: ['backend'] as const,
      registers: [registry],
    }),
  };
  // Exported without Redis too (always 0 then), so alerts on it need no `absent()` twin.
  new Gauge({
    name: 'keyplane_ratelimit_degraded',
    help: '1 while Redis is unreachable and limits are enforced per node',
    registers: [registry],
    collect() {
      this.set(degraded());
    },
  });
  return metrics;
}

function setDegraded(ctx: RateLimitContext, on: boolean, err?: unknown) {
  if (on === ctx.state.degraded) return;
  ctx.state.degraded = on;
  if (on)
    ctx.logger.warn(
      { err: err ? { message: (err as Error).message } : undefined },
      'rate limiter: redis unreachable, enforcing limits per node until it returns',
    );
  else ctx.logger.info('rate limiter: redis is back, limits are global again');
}

/** Redis when configured and reachable, else this node's limiter (said in /readyz and the logs). */
async function remoteOrLocal(
  ctx: RateLimitContext,
  limiter: ReturnType<typeof createRedisLimiter>,
  buckets: Buckets,
  nowMs: number,
): Promise<{ backend: Backend; result: LimiterResult }> {
  if (ctx.redis?.status === 'ready') {
    try {
      const result = await limiter.check(buckets, nowMs);
      setDegraded(ctx, false);
      return { backend: 'redis', result };
    } catch (err) {
      setDegraded(ctx, true, err);
    }
  } else setDegraded(ctx, true);
  return { backend: 'memory_fallback', result: ctx.memory.check(buckets, nowMs) };
}

function settle(ctx: RateLimitContext, buckets: Buckets, backend: Backend, result: LimiterResult) {
  const state = combine(buckets, result);
  ctx.metrics.checks?.inc({ backend, result: state.allowed ? 'allowed' : 'refused' });
  if (!state.allowed) ctx.metrics.refusals?.inc({ backend });
  return state;
}

async function readiness(ctx: RateLimitContext): Promise<void> {
  const { redis } = ctx;
  if (!redis) return;
  if (redis.status !== 'ready' || ctx.state.degraded) {
    if (redis.status === 'ready') {
      try {
        await redis.ping();
        setDegraded(ctx, false);
        return;
      } catch {
        /* still down */
      }
    }
    throw new Error('degraded: redis unreachable, rate limits enforced per node');
  }
}

export type RateLimitService = ReturnType<typeof createRateLimitService>;
export type { RateLimitState };
