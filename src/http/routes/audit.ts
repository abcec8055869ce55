import { z } from 'zod';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { requireAdmin } from '../auth.ts';
import { LIMITS, errorResponses } from '../schemas.ts';

export const auditEntrySchema = z.object({
  seq: z.number().int(),
  id: z.string(),
  createdAt: z.string(),
  actorType: z.string(),
  actorId: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  clientId: z.string().nullable(),
  ip: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
});

export async function auditRoutes(app: App, services: Services) {
  const auth = requireAdmin(services, 'audit:read');
  app.get(
    '/audit',
    {
      preHandler: auth,
      schema: {
        tags: ['audit'],
        summary: 'Query the audit log, newest first',
        querystring: z.object({
          clientId: z.string().max(100).optional(),
          action: z.string().max(100).optional(),
          targetId: z.string().max(100).optional(),
          limit: z.coerce.number().int().min(1).max(LIMITS.maxPageSize).default(50),
          // At most 15 digits: a bigint column refuses anything larger (PostgreSQL errors).
          cursor: z
            .string()
            .regex(/^\d{1,15}$/, 'must be a nextCursor value')
            .optional(),
        }),
        response: {
          200: z.object({ data: z.array(auditEntrySchema), nextCursor: z.string().nullable() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { cursor, ...rest } = request.query;
      return services.audit.list({ ...rest, cursor: cursor ? Number(cursor) : undefined });
    },
  );
  app.post(
    '/audit/verify',
    {
      preHandler: auth,
      schema: {
        tags: ['audit'],
        summary: 'Verify the hash chain; names the first bad entry',
        response: {
          200: z.object({
            ok: z.boolean(),
            entries: z.number(),
            headSeq: z.number().optional(),
            firstBadSeq: z.number().optional(),
            reason: z.string().optional(),
          }),
          ...errorResponses,
        },
      },
    },
    async () => services.audit.verify(),
  );
}
