import { randomBytes } from 'node:crypto';
import type { Redis } from '../infra/redis.ts';
import type { Bucket, Limiter, LimiterResult } from './ratelimit-types.ts';

/**
 * Sliding log over several windows in one atomic step: evict calls older than each window,
 * refuse if any window is full, else record the call in all of them. A sorted set per bucket
 * (score = call time in ms), expiring with its window.
 *
 * KEYS = bucket keys; ARGV = now, member, then (limit, windowMs) per bucket.
 * Returns {allowed, remaining1, reset1, remaining2, reset2, …}.
 */
const SLIDING_LOG = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS
local counts = {}
local allowed = 1
for i = 1, n do
  local limit = tonumber(ARGV[1 + i * 2])
  local window = tonumber(ARGV[2 + i * 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local c = redis.call('ZCARD', KEYS[i])
  counts[i] = c
  if c >= limit then allowed = 0 end
end
local out = {allowed}
for i = 1, n do
  local limit = tonumber(ARGV[1 + i * 2])
  local window = tonumber(ARGV[2 + i * 2])
  local c = counts[i]
  if allowed == 1 then
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], window)
    c = c + 1
  end
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local reset = now + window
  if oldest[2] then reset = tonumber(oldest[2]) + window end
  out[#out + 1] = limit - c
  out[#out + 1] = reset
end
return out
`;

type SlidingRedis = Redis & {
  kpSlidingLog(numKeys: number, ...args: Array<string | number>): Promise<number[]>;
};

/**
 * The Redis backend: every node shares the windows, so a limit holds across the cluster.
 * Bucket keys carry a hash tag on the key id (`{key_…}`), so the script stays on one slot.
 */
export function createRedisLimiter(redis: Redis, options: { prefix?: string } = {}): Limiter {
  const prefix = options.prefix ?? 'kp:rl:';
  const r = redis as SlidingRedis;
  if (typeof r.kpSlidingLog !== 'function') {
    redis.defineCommand('kpSlidingLog', { lua: SLIDING_LOG });
  }
  const node = randomBytes(4).toString('hex');
  let seq = 0;
  return {
    async check(buckets: Bucket[], nowMs: number): Promise<LimiterResult> {
      const keys = buckets.map((b) => {
        const i = b.id.indexOf(':');
        return i < 0 ? `${prefix}{${b.id}}` : `${prefix}{${b.id.slice(0, i)}}${b.id.slice(i)}`;
      });
      const args: Array<string | number> = [nowMs, `${nowMs}:${node}:${(seq = (seq + 1) % 1e9)}`];
      for (const b of buckets) args.push(b.limit, b.windowMs);
      const out = await r.kpSlidingLog(keys.length, ...keys, ...args);
      const states = buckets.map((_, i) => ({
        remaining: Number(out[1 + i * 2]),
        reset: Number(out[2 + i * 2]),
      }));
      return { allowed: Number(out[0]) === 1, states };
    },
  };
}
