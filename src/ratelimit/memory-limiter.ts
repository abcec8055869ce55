import { SlidingLog } from './ratelimit-fns.ts';
import type { Bucket, LimiterResult } from './ratelimit-types.ts';

/**
 * The in-process sliding-window limiter of the embedded default (and the fallback while Redis
 * is away). Synchronous, so a check over several buckets is atomic.
 */
export function createMemoryLimiter(options: { sweepEveryMs?: number } = {}) {
  const logs = new Map<string, { log: SlidingLog; windowMs: number }>();

  // Idle buckets are dropped so memory follows the active keys, not every key ever seen.
  let lastSweep = 0;
  const sweepEveryMs = options.sweepEveryMs ?? 60_000;
  function sweep(nowMs: number) {
    lastSweep = nowMs;
    for (const [id, b] of logs) {
      const newest = b.log.newest();
      if (newest === undefined || newest <= nowMs - b.windowMs) logs.delete(id);
    }
  }

  const limiter = {
    check(buckets: Bucket[], nowMs: number): LimiterResult {
      if (nowMs - lastSweep > sweepEveryMs) sweep(nowMs);
      const entries = buckets.map((b) => {
        let e = logs.get(b.id);
        if (!e) {
          e = { log: new SlidingLog(), windowMs: b.windowMs };
          logs.set(b.id, e);
        }
        e.windowMs = b.windowMs;
        e.log.evict(nowMs, b.windowMs);
        return e;
      });
      const allowed = entries.every((e, i) => e.log.size < buckets[i]!.limit);
      if (allowed) for (const e of entries) e.log.add(nowMs);
      return {
        allowed,
        states: entries.map((e, i) => ({
          remaining: buckets[i]!.limit - e.log.size,
          reset: (e.log.oldest() ?? nowMs) + buckets[i]!.windowMs,
        })),
      };
    },
    size: () => logs.size,
  };
  return limiter;
}
