import { z } from 'zod';
import type { Services } from '../../services.ts';
import { parseBound, resolveRange } from '../../usage/index.ts';
import type { App } from '../app.ts';
import { requireAdmin } from '../auth.ts';
import { requireClient } from '../client-auth.ts';
import { errorResponses } from '../schemas.ts';

const bound = z
  .string()
  .max(40)
  .refine((v) => parseBound(v) !== null, 'must be an ISO date (2025-10-01) or timestamp');

const rangeQuery = z.object({
  from: bound.optional().describe('inclusive start (ISO date or timestamp); default: 30 days ago'),
  to: bound.optional().describe('exclusive end (ISO date or timestamp); default: now'),
});

const money = {
  calls: z.number().int().describe('calls, live and test'),
  testCalls: z.number().int().describe('of which made with test keys (never priced)'),
  costMicros: z.number().int().describe('cost in micro-units of the currency'),
  cost: z.string().describe('cost as a decimal string').meta({ example: '2.43' }),
};

export const usageSummarySchema = z
  .object({
    from: z.string(),
    to: z.string(),
    currency: z.string().meta({ example: 'EUR' }),
    totals: z.object(money),
    groups: z.array(z.object({ group: z.string(), ...money })),
  })
  .describe('Calls and cost in [from, to), grouped');

const keyUsageSchema = z.object({
  keyId: z.string(),
  from: z.string(),
  to: z.string(),
  currency: z.string(),
  calls: z.number().int(),
  costMicros: z.number().int(),
  cost: z.string(),
  lastUsedAt: z.string().nullable(),
  endpoints: z.array(
    z.object({
      endpoint: z.string(),
      calls: z.number().int(),
      costMicros: z.number().int(),
      cost: z.string(),
    }),
  ),
  statusCodes: z.record(z.string(), z.number().int()).describe('calls by HTTP status code'),
});

/** Client API: own usage and own keys' statistics. */
export async function usageRoutes(app: App, services: Services) {
  const auth = requireClient(services);

  app.get(
    '/usage',
    {
      preHandler: auth,
      schema: {
        tags: ['usage'],
        summary: 'Own calls and cost, grouped by day, endpoint or key',
        security: [{ apiKey: [] }],
        querystring: rangeQuery.extend({
          groupBy: z.enum(['day', 'endpoint', 'key']).default('day'),
        }),
        response: { 200: usageSummarySchema, ...errorResponses },
      },
    },
    async (request) => {
      const range = resolveRange(request.query, services.clock.now());
      return services.usage.summary({
        clientIds: [request.client!.clientId],
        ...range,
        groupBy: request.query.groupBy,
      });
    },
  );

  app.get(
    '/keys/:id/usage',
    {
      preHandler: auth,
      schema: {
        tags: ['usage'],
        summary: 'Statistics of one own key: calls by endpoint and status code, last use',
        security: [{ apiKey: [] }],
        params: z.object({ id: z.string().min(1).max(100) }),
        querystring: rangeQuery,
        response: { 200: keyUsageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const clientId = request.client!.clientId;
      // Another client's key answers exactly like a missing one.
      const key = await services.keys.get(clientId, request.params.id);
      const range = resolveRange(request.query, services.clock.now());
      return services.usage.keyUsage({
        clientId,
        keyId: key.id,
        ...range,
        lastUsedAt: key.lastUsedAt,
      });
    },
  );
}

/** Admin API: usage across clients. */
export async function adminUsageRoutes(app: App, services: Services) {
  app.get(
    '/usage',
    {
      preHandler: requireAdmin(services, 'usage:read'),
      schema: {
        tags: ['usage'],
        summary: 'Calls and cost across clients (or one), grouped by day, endpoint, key or client',
        security: [{ bearer: [] }],
        querystring: rangeQuery.extend({
          clientId: z.string().max(100).optional().describe('only this client'),
          groupBy: z.enum(['day', 'endpoint', 'key', 'client']).default('client'),
        }),
        response: { 200: usageSummarySchema, ...errorResponses },
      },
    },
    async (request) => {
      const range = resolveRange(request.query, services.clock.now());
      return services.usage.summary({
        clientIds: request.query.clientId ? [request.query.clientId] : undefined,
        ...range,
        groupBy: request.query.groupBy,
      });
    },
  );
}
