import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/infra/logger.ts';
import { createRedis, type Redis } from '../src/infra/redis.ts';
import type { AuthContext } from '../src/keys/index.ts';
import { createManualClock, systemClock } from '../src/lib/clock.ts';
import { createRateLimitService } from '../src/ratelimit/ratelimit-service.ts';
import { logCapture } from './support/harness.ts';
import { freePort, startRedis, type RunningServer } from './support/servers.ts';
import { redisUrl } from './support/stores.ts';

const url = redisUrl();

const auth = (keyId: string, limit: number, windowSeconds = 60): AuthContext => ({
  clientId: 'client_x',
  clientName: 'X',
  clientTier: 'default',
  keyId,
  environment: 'live',
  scopes: [],
  rateLimit: { limit, windowSeconds },
  meta: {},
});

async function until(check: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!url)('rate limits on Redis', () => {
  const conns: Redis[] = [];
  afterAll(() => conns.forEach((c) => c.disconnect()));

  function node(clock = systemClock) {
    const logs = logCapture();
    const logger = createLogger({ destination: logs.stream });
    const redis = createRedis(url!, logger);
    conns.push(redis);
    const svc = createRateLimitService({
      config: { tiers: {}, endpoints: { 'GET /v1/me': { limit: 3, windowSeconds: 60 } } },
      clock,
      logger,
      redis,
    });
    return { svc, redis, logs };
  }

  it('lets exactly `limit` calls through across two nodes', async () => {
    const a = node();
    const b = node();
    await until(() => a.redis.status === 'ready' && b.redis.status === 'ready');
    const key = `key_two_nodes_${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        (i % 2 ? a : b).svc.gate.check(auth(key, 100), { endpoint: 'GET /v1/health' }),
      ),
    );
    expect(results.filter((r) => r!.allowed).length).toBe(100);
    expect(a.svc.backend()).toBe('redis');
    const refused = results.find((r) => !r!.allowed)!;
    expect(refused.remaining).toBe(0);
    expect(refused.limit).toBe(100);
  });

  it('holds endpoint windows too, atomically with the key window', async () => {
    const clock = createManualClock(new Date());
    const a = node(clock);
    await until(() => a.redis.status === 'ready');
    const key = `key_endpoint_${Date.now()}`;
    const me = [];
    for (let i = 0; i < 4; i++)
      me.push((await a.svc.gate.check(auth(key, 10), { endpoint: 'GET /v1/me' }))!);
    expect(me.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(me[3]!.limit).toBe(3);
    // The refused call did not take a slot of the key window: 3 used, 7 left.
    const other = await a.svc.gate.check(auth(key, 10), { endpoint: 'GET /v1/health' });
    expect(other!.remaining).toBe(6);
    clock.advance(60_001);
    expect((await a.svc.gate.check(auth(key, 10), { endpoint: 'GET /v1/me' }))!.allowed).toBe(true);
  });
});

describe.skipIf(!url)('rate limits when Redis goes away', () => {
  let server: RunningServer | null = null;
  afterAll(async () => {
    await server?.stop();
  });

  it('serves on the local limiter, says so, and goes back to Redis by itself', async () => {
    const port = await freePort();
    server = await startRedis({ port });
    if (!server) throw new Error('redis-server is not installed');
    const logs = logCapture();
    const logger = createLogger({ destination: logs.stream });
    const redis = createRedis(`redis://127.0.0.1:${port}`, logger);
    try {
      const svc = createRateLimitService({
        config: { tiers: {}, endpoints: {} },
        clock: systemClock,
        logger,
        redis,
      });
      await until(() => redis.status === 'ready');
      const key = `key_fallback_${Date.now()}`;
      expect((await svc.gate.check(auth(key, 5), {}))!.allowed).toBe(true);
      expect(svc.backend()).toBe('redis');
      await expect(svc.readiness()).resolves.toBeUndefined();

      await server!.stop();
      await until(() => redis.status !== 'ready');
      // Still answering, from the local limiter (a fresh window on this node).
      const local = [];
      for (let i = 0; i < 6; i++) local.push((await svc.gate.check(auth(key, 5), {}))!.allowed);
      expect(local).toEqual([true, true, true, true, true, false]);
      expect(svc.backend()).toBe('memory_fallback');
      await expect(svc.readiness()).rejects.toThrow(/^degraded: redis unreachable/);
      expect(logs.text()).toContain('enforcing limits per node');

      server = await startRedis({ port });
      await until(() => redis.status === 'ready', 20_000);
      const back = await svc.gate.check(auth(key, 5), {});
      expect(back!.allowed).toBe(true);
      // The restarted Redis (no persistence) starts with empty windows: 1 used, 4 left.
      expect(back!.remaining).toBe(4);
      expect(svc.backend()).toBe('redis');
      await expect(svc.readiness()).resolves.toBeUndefined();
      expect(logs.text()).toContain('limits are global again');
    } finally {
      redis.disconnect();
    }
  });
});
