import { z } from 'zod';
import { LIMITS } from '../lib/limits.ts';

/** The bounds of every request number (src/lib/limits.ts), here for the route schemas. */
export { LIMITS };

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
