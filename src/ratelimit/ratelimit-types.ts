import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';

/** The `rateLimits` section of the config file: defaults for keys without a limit of their own. */
export interface RateLimitsConfig {
  /** Applies to keys of clients whose tier has no entry (absent = unlimited). */
  default?: RateLimitSetting;
  /** Per client tier: `{"free": {"limit": 60, "windowSeconds": 60}}`. */
  tiers: Record<string, RateLimitSetting>;
  /**
   * Extra per-key limits on single endpoints, on top of the key's own limit:
   * `{"POST /v1/proxy/gemini/*": {"limit": 10, "windowSeconds": 1}}` (a trailing `*` matches by prefix).
   */
  endpoints: Record<string, RateLimitSetting>;
}

/** One sliding window to check: at most `limit` calls in any `windowMs`. */
export interface Bucket {
  /** Storage key: the key id, plus the endpoint pattern for endpoint limits. */
  id: string;
  limit: number;
  windowMs: number;
}

export interface BucketState {
  /** Calls still allowed in the window after this one. */
  remaining: number;
  /** Epoch ms when the oldest call in the window leaves it (a slot frees up). */
  reset: number;
}

/** What a backend answers for one check over several buckets (all or nothing). */
export interface LimiterResult {
  allowed: boolean;
  states: BucketState[];
}

/** A sliding-window backend: records the call in every bucket only when all of them allow it. */
export interface Limiter {
  check(buckets: Bucket[], nowMs: number): Promise<LimiterResult> | LimiterResult;
}
