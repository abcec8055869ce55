import { z } from 'zod';
import { LIMITS } from './limits.ts';

/** A rate limit as keys and clients store it and take it: `limit` calls per `windowSeconds`. */
export const rateLimitSchema = z.object({
  limit: z.number().int().min(1).max(LIMITS.maxRateLimit).describe('calls allowed per window'),
  windowSeconds: z.number().int().min(1).max(LIMITS.maxWindowSeconds),
});

export type RateLimitSetting = z.infer<typeof rateLimitSchema>;
