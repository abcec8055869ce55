import { z } from 'zod';
import { LIMITS } from '../schemas.ts';

export const rateLimitSchema = z.object({
  limit: z.number().int().min(1).max(LIMITS.maxRateLimit).describe('calls allowed per window'),
  windowSeconds: z.number().int().min(1).max(LIMITS.maxWindowSeconds),
});

export const apiKeySchema = z
  .object({
    id: z.string(),
    clientId: z.string(),
    start: z.string().describe('prefix, environment and first 4 secret characters: safe to show'),
    name: z.string().nullable(),
    description: z.string().nullable(),
    environment: z.enum(['live', 'test']),
    scopes: z.array(z.string()),
    ipAllowlist: z.array(z.string()),
    expiresAt: z.string().nullable(),
    rateLimit: rateLimitSchema.nullable(),
    credits: z
      .object({
        remaining: z.number().int(),
        refill: z
          .object({ interval: z.enum(['daily', 'monthly']), amount: z.number().int() })
          .nullable(),
      })
      .nullable(),
    meta: z.record(z.string(), z.unknown()),
    status: z.enum(['active', 'revoked']),
    revokedAt: z.string().nullable(),
    revokedReason: z.string().nullable(),
    retiredAt: z
      .string()
      .nullable()
      .describe('set when the key can never be reactivated (rolled, or revoked as leaked)'),
    lastUsedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    legacy: z
      .boolean()
      .describe('imported from another system by its hash (no checksum); roll it to retire it'),
  })
  .describe('API key metadata; never the key itself');

export const createKeyBody = z
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

export const createdKeySchema = z.object({
  key: apiKeySchema,
  apiKey: z.string().describe('the key itself: shown exactly once'),
});

export const rollBody = z
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

export const revokeBody = z.object({ reason: z.string().max(500).optional() }).strict();

export const keyList = z.object({ data: z.array(apiKeySchema), nextCursor: z.string().nullable() });

export const rolledKeySchema = createdKeySchema.extend({
  rolled: apiKeySchema.describe('the old key, working until its new expiresAt'),
});
