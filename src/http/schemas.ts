import { z } from 'zod';

/**
 * The largest number each kind of request field may carry: what the code that uses it can
 * hold. A time offset must keep `new Date(now + seconds * 1000)` a valid date for centuries; a
 * count of calls or credits stays far below 2^53 (sums and refills of them too) and inside a
 * PostgreSQL bigint; a rate limit fits the limiter's integer counters. Every number in every
 * request schema is bounded by one of these (test/spec-fuzz.test.ts sends the extremes).
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

/** Shared response shapes. Every route declares its schemas from these and its own. */
export const errorEnvelope = z
  .object({
    error: z.object({
      code: z.string().describe('snake_case error code from the catalog'),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .describe('Every error answer');

export const errorResponses = {
  400: errorEnvelope,
  401: errorEnvelope,
  403: errorEnvelope,
  404: errorEnvelope,
  409: errorEnvelope,
  429: errorEnvelope,
};

export const paginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.maxPageSize).default(50).describe('page size'),
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
});

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const idParams = z.object({ id: z.string().min(1).max(100) });
