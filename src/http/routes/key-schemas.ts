import { z } from 'zod';
import { rateLimitSchema } from '../../lib/rate-limit-setting.ts';

/** The keys' response shapes; their inputs are the keys module's (src/keys/keys-input.ts). */

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

export const createdKeySchema = z.object({
  key: apiKeySchema,
  apiKey: z.string().describe('the key itself: shown exactly once'),
});

export const keyList = z.object({ data: z.array(apiKeySchema), nextCursor: z.string().nullable() });

export const rolledKeySchema = createdKeySchema.extend({
  rolled: apiKeySchema.describe('the old key, working until its new expiresAt'),
});
