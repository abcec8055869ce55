import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { AuthContext, RateLimitState } from '../keys/index.ts';
import type { Bucket, LimiterResult, RateLimitsConfig } from './ratelimit-types.ts';

/** Does the pattern (`METHOD /template`, or a prefix ending in `*`) name this endpoint? */
export function endpointMatches(pattern: string, endpoint: string): boolean {
  return pattern.endsWith('*') ? endpoint.startsWith(pattern.slice(0, -1)) : pattern === endpoint;
}

/**
 * The windows a call must fit in. The key's own limit (the client default is already folded
 * into `auth.rateLimit`), else the tier's, else the config default, else none; plus any
 * endpoint limit matching the call (the longest pattern), counted per key.
 */
export function resolveBuckets(
  auth: Pick<AuthContext, 'keyId' | 'clientTier' | 'rateLimit'>,
  endpoint: string | undefined,
  config: RateLimitsConfig,
): Bucket[] {
  const buckets: Bucket[] = [];
  const main: RateLimitSetting | undefined =
    auth.rateLimit ??
    (Object.hasOwn(config.tiers, auth.clientTier) ? config.tiers[auth.clientTier] : undefined) ??
    config.default;
  if (main) buckets.push(bucket(`${auth.keyId}`, main));
  if (endpoint) {
    let best: string | null = null;
    for (const pattern of Object.keys(config.endpoints)) {
      if (endpointMatches(pattern, endpoint) && (!best || pattern.length > best.length))
        best = pattern;
    }
    if (best) buckets.push(bucket(`${auth.keyId}:${best}`, config.endpoints[best]!));
  }
  return buckets;
}

function bucket(id: string, s: RateLimitSetting): Bucket {
  return { id, limit: s.limit, windowMs: s.windowSeconds * 1000 };
}

/**
 * The one state to report for a check: when refused, the refusing window that frees up last
 * (Retry-After must cover it); when allowed, the window with the fewest calls left.
 */
export function combine(
  buckets: Bucket[],
  result: LimiterResult,
): RateLimitState & { allowed: boolean; windowMs: number } {
  let pick = 0;
  for (let i = 1; i < buckets.length; i++) {
    const a = result.states[pick]!;
    const b = result.states[i]!;
    if (!result.allowed) {
      const aFull = a.remaining <= 0;
      const bFull = b.remaining <= 0;
      if ((bFull && !aFull) || (bFull === aFull && b.reset > a.reset)) pick = i;
    } else if (b.remaining < a.remaining) pick = i;
  }
  const s = result.states[pick]!;
  return {
    allowed: result.allowed,
    limit: buckets[pick]!.limit,
    remaining: Math.max(0, s.remaining),
    reset: s.reset,
    windowMs: buckets[pick]!.windowMs,
  };
}

/**
 * One sliding log: the times of the calls inside the window, oldest first. Exact: at most
 * `limit` calls in any window, memory bounded by `limit` per bucket.
 */
export class SlidingLog {
  private times: number[] = [];
  private head = 0;

  get size(): number {
    return this.times.length - this.head;
  }

  /** Forgets calls that left the window `(now - windowMs, now]`. */
  evict(nowMs: number, windowMs: number): void {
    const edge = nowMs - windowMs;
    while (this.head < this.times.length && this.times[this.head]! <= edge) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  add(nowMs: number): void {
    this.times.push(nowMs);
  }

  oldest(): number | undefined {
    return this.head < this.times.length ? this.times[this.head] : undefined;
  }

  newest(): number | undefined {
    return this.times.length > this.head ? this.times[this.times.length - 1] : undefined;
  }
}
