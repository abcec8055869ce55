import { describe, expect, it } from 'vitest';
import { createMemoryLimiter } from './memory-limiter.ts';
import { combine, endpointMatches, resolveBuckets, SlidingLog } from './ratelimit-fns.ts';
import type { RateLimitsConfig } from './ratelimit-types.ts';

const config: RateLimitsConfig = {
  default: { limit: 1000, windowSeconds: 3600 },
  tiers: { free: { limit: 10, windowSeconds: 60 } },
  endpoints: {
    'POST /v1/proxy/*': { limit: 5, windowSeconds: 1 },
    'POST /v1/proxy/gemini/*': { limit: 2, windowSeconds: 1 },
    'GET /v1/me': { limit: 1, windowSeconds: 10 },
  },
};

describe('resolveBuckets', () => {
  it('prefers the key limit (client default folded in), then tier, then default', () => {
    const own = { limit: 7, windowSeconds: 30 };
    expect(
      resolveBuckets({ keyId: 'k', clientTier: 'free', rateLimit: own }, undefined, config),
    ).toEqual([{ id: 'k', limit: 7, windowMs: 30_000 }]);
    expect(
      resolveBuckets({ keyId: 'k', clientTier: 'free', rateLimit: null }, undefined, config),
    ).toEqual([{ id: 'k', limit: 10, windowMs: 60_000 }]);
    expect(
      resolveBuckets({ keyId: 'k', clientTier: 'pro', rateLimit: null }, undefined, config),
    ).toEqual([{ id: 'k', limit: 1000, windowMs: 3_600_000 }]);
  });

  it('reads only configured tiers: a tier named like an Object member is not a limit', () => {
    // "constructor" is a valid tier name; it must fall through to the default, not to
    // Object.prototype.constructor (limit undefined, window NaN: every call refused).
    expect(
      resolveBuckets({ keyId: 'k', clientTier: 'constructor', rateLimit: null }, undefined, config),
    ).toEqual([{ id: 'k', limit: 1000, windowMs: 3_600_000 }]);
    expect(
      resolveBuckets({ keyId: 'k', clientTier: 'constructor', rateLimit: null }, undefined, {
        tiers: {},
        endpoints: {},
      }),
    ).toEqual([]);
  });

  it('is unlimited without any setting', () => {
    const none = { tiers: {}, endpoints: {} };
    expect(
      resolveBuckets({ keyId: 'k', clientTier: 'x', rateLimit: null }, 'GET /v1/me', none),
    ).toEqual([]);
  });

  it('adds the longest matching endpoint window, per key', () => {
    const b = resolveBuckets(
      { keyId: 'k', clientTier: 'pro', rateLimit: null },
      'POST /v1/proxy/gemini/*',
      config,
    );
    expect(b).toEqual([
      { id: 'k', limit: 1000, windowMs: 3_600_000 },
      { id: 'k:POST /v1/proxy/gemini/*', limit: 2, windowMs: 1000 },
    ]);
    expect(endpointMatches('POST /v1/proxy/*', 'POST /v1/proxy/exa/*')).toBe(true);
    expect(endpointMatches('GET /v1/me', 'GET /v1/me/x')).toBe(false);
  });
});

describe('SlidingLog', () => {
  it('evicts calls at or before now - window', () => {
    const log = new SlidingLog();
    log.add(1000);
    log.add(1500);
    log.evict(2000, 1000);
    expect(log.size).toBe(1);
    expect(log.oldest()).toBe(1500);
    log.evict(2500, 1000);
    expect(log.size).toBe(0);
  });

  it('stays exact over many calls (compaction keeps order)', () => {
    const log = new SlidingLog();
    for (let t = 0; t < 10_000; t++) {
      log.add(t);
      log.evict(t, 100);
      expect(log.size).toBe(Math.min(t + 1, 100));
    }
    expect(log.oldest()).toBe(9900);
  });
});

describe('memory limiter', () => {
  it('never lets more than `limit` calls into any window', () => {
    const lim = createMemoryLimiter();
    const bucket = { id: 'k', limit: 3, windowMs: 1000 };
    const allowedAt: number[] = [];
    for (let t = 0; t < 5000; t += 50) {
      if (lim.check([bucket], t).allowed) allowedAt.push(t);
    }
    for (const t of allowedAt) {
      expect(allowedAt.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(3);
    }
    // And it is not stricter than it should be: 3 per second over 5 s.
    expect(allowedAt.length).toBe(15);
  });

  it('records a call in every window only when all allow it', () => {
    const lim = createMemoryLimiter();
    const wide = { id: 'k', limit: 10, windowMs: 60_000 };
    const narrow = { id: 'k:GET /x', limit: 1, windowMs: 1000 };
    expect(lim.check([wide, narrow], 0).allowed).toBe(true);
    const refused = lim.check([wide, narrow], 10);
    expect(refused.allowed).toBe(false);
    // The refused call did not consume the wide window.
    expect(refused.states[0]!.remaining).toBe(9);
    const state = combine([wide, narrow], refused);
    expect(state).toEqual({ allowed: false, limit: 1, remaining: 0, reset: 1000, windowMs: 1000 });
  });

  it('drops idle buckets', () => {
    const lim = createMemoryLimiter({ sweepEveryMs: 1000 });
    lim.check([{ id: 'a', limit: 1, windowMs: 100 }], 0);
    lim.check([{ id: 'b', limit: 1, windowMs: 100 }], 5000);
    expect(lim.size()).toBe(1);
  });
});

describe('combine', () => {
  it('reports the tightest window when allowed', () => {
    const buckets = [
      { id: 'a', limit: 100, windowMs: 60_000 },
      { id: 'b', limit: 5, windowMs: 1000 },
    ];
    expect(
      combine(buckets, {
        allowed: true,
        states: [
          { remaining: 50, reset: 9 },
          { remaining: 2, reset: 7 },
        ],
      }),
    ).toEqual({ allowed: true, limit: 5, remaining: 2, reset: 7, windowMs: 1000 });
  });
});
