import { z } from 'zod';
import { LIMITS } from '../lib/limits.ts';
import { rateLimitSchema } from '../lib/rate-limit-setting.ts';

/**
 * The keys module's inputs, one zod schema each, shared by every face: the HTTP routes take
 * them as request bodies, the CLI parses its flags into them.
 */

export const createKeyInput = z
  .object({
    name: z.string().max(200).optional(),
    description: z.string().max(2000).optional(),
    environment: z.enum(['live', 'test']).optional().describe('default live'),
    scopes: z.array(z.string().max(64)).max(100).optional(),
    ipAllowlist: z
      .array(z.string().max(64))
      .max(100)
      .optional()
      .describe('IPv4/IPv6 CIDRs or addresses'),
    expiresAt: z.string().max(40).optional().describe('ISO-8601'),
    expiresInSeconds: z
      .number()
      .int()
      .min(1)
      .max(LIMITS.maxSeconds)
      .optional()
      .describe('expiry from now (at most 100 years)'),
    rateLimit: rateLimitSchema.optional(),
    credits: z
      .number()
      .int()
      .min(0)
      .max(LIMITS.maxCredits)
      .optional()
      .describe('calls this key may make'),
    refill: z
      .object({
        interval: z.enum(['daily', 'monthly']),
        amount: z.number().int().min(1).max(LIMITS.maxCredits),
      })
      .optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const rollKeyInput = z
  .object({
    gracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .max(LIMITS.maxWindowSeconds)
      .optional()
      .describe('default 86400'),
  })
  .strict();

export const revokeKeyInput = z.object({ reason: z.string().max(500).optional() }).strict();
