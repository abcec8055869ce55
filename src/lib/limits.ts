/**
 * The largest number each kind of request field may carry: what the code that uses it can
 * hold. A time offset must keep `new Date(now + seconds * 1000)` a valid date for centuries; a
 * count of calls or credits stays far below 2^53 (sums and refills of them too) and inside a
 * PostgreSQL bigint; a rate limit fits the limiter's integer counters. Every number in every
 * input schema (HTTP bodies, CLI flags) is bounded by one of these (test/spec-fuzz.test.ts
 * sends the extremes).
 */
export const LIMITS = {
  /** 100 years, in seconds: expiries and offsets from now. */
  maxSeconds: 100 * 365 * 86_400,
  /** Calls a key may make (credits, refill amounts): 10^15, well inside 2^53. */
  maxCredits: 1_000_000_000_000_000,
  /** Calls per rate-limit window. */
  maxRateLimit: 1_000_000_000,
  /** A rate-limit window: one year. */
  maxWindowSeconds: 31_536_000,
  /** Page size of every list. */
  maxPageSize: 1000,
} as const;
