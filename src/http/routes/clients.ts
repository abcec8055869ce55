import { z } from 'zod';
import { hasAdminScope } from '../../admin-tokens/admin-tokens-service.ts';
import { AppError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { errorResponses, paginationQuery } from '../schemas.ts';
import {
  apiKeySchema,
  createdKeySchema,
  createKeyBody,
  keyList,
  rateLimitSchema,
  revokeBody,
  rollBody,
  rolledKeySchema,
} from './key-schemas.ts';

export const clientSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  tier: z.string(),
  status: z.enum(['active', 'suspended', 'deleted']),
  metadata: z.record(z.string(), z.unknown()),
  defaultRateLimit: rateLimitSchema.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  suspendedAt: z.string().nullable(),
  deletedAt: z.string().nullable(),
});

const clientParams = z.object({ id: z.string().min(1).max(100) });
const keyParams = z.object({ id: z.string().min(1).max(100), keyId: z.string().min(1).max(100) });
const tags = ['admin: clients'];
const keyTags = ['admin: keys'];

export async function adminClientRoutes(app: App, services: Services) {
  const read = requireAdmin(services, 'clients:read');
  const write = requireAdmin(services, 'clients:write');
  const keysRead = requireAdmin(services, 'keys:read');
  const keysWrite = requireAdmin(services, 'keys:write');

  app.post(
    '/clients',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Create a client and its first key (the key is shown once)',
        body: z
          .object({
            name: z.string().min(1).max(200),
            email: z.string().min(3).max(320),
            tier: z.string().max(32).optional(),
            metadata: z.record(z.string(), z.unknown()).optional(),
            defaultRateLimit: rateLimitSchema.optional(),
            environment: z
              .enum(['live', 'test'])
              .optional()
              .describe('of the first key; default live'),
          })
          .strict(),
        response: {
          201: z.object({ client: clientSchema, key: apiKeySchema, apiKey: z.string() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { environment, ...input } = request.body;
      const created = await services.clients.create(input, actorOf(request), { environment });
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/clients',
    {
      preHandler: read,
      schema: {
        tags,
        summary: 'List clients',
        description:
          'With `include=keys` each client carries its keys, active and revoked (needs `keys:read` as well, like GET /clients/{id}).',
        querystring: paginationQuery.extend({
          status: z.enum(['active', 'suspended', 'deleted']).optional(),
          q: z
            .string()
            .max(200)
            .optional()
            .describe('only clients whose name, email, id or tier contains this (ignoring case)'),
          include: z.enum(['keys']).optional().describe('keys: embed each client’s keys'),
        }),
        response: {
          200: z.object({
            data: z.array(clientSchema.extend({ keys: z.array(apiKeySchema).optional() })),
            nextCursor: z.string().nullable(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { include, q, ...query } = request.query;
      const page = await services.clients.list({ ...query, search: q });
      if (include !== 'keys') return page;
      if (!hasAdminScope(request.admin!, 'keys:read')) {
        throw new AppError('insufficient_scope', 'admin token lacks scope "keys:read"');
      }
      // One query for the page's keys, not one per client.
      const keys = await services.keys.listForClients(page.data.map((c) => c.id));
      return { ...page, data: page.data.map((c) => ({ ...c, keys: keys.get(c.id) ?? [] })) };
    },
  );

  app.get(
    '/clients/:id',
    {
      preHandler: read,
      schema: {
        tags,
        summary: 'Get a client with its keys',
        description:
          'Keys are included only when the admin token also holds `keys:read` (or `admin`); with `clients:read` alone the `keys` field is omitted.',
        params: clientParams,
        response: {
          200: z.object({
            client: clientSchema,
            keys: z
              .array(apiKeySchema)
              .optional()
              .describe('present only when the admin token also holds keys:read (or admin)'),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const client = await services.clients.get(request.params.id);
      // clients:read is not keys:read: key metadata (starts, scopes, last use) needs its own scope.
      if (!hasAdminScope(request.admin!, 'keys:read')) return { client };
      const keys = await services.keys.list(client.id, { limit: 1000 });
      return { client, keys: keys.data };
    },
  );

  app.patch(
    '/clients/:id',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Update name, email, tier, metadata or default rate limit',
        params: clientParams,
        body: z
          .object({
            name: z.string().min(1).max(200).optional(),
            email: z.string().min(3).max(320).optional(),
            tier: z.string().max(32).optional(),
            metadata: z.record(z.string(), z.unknown()).optional(),
            defaultRateLimit: rateLimitSchema.nullable().optional(),
          })
          .strict(),
        response: { 200: z.object({ client: clientSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.update(request.params.id, request.body, actorOf(request)),
    }),
  );

  app.post(
    '/clients/:id/suspend',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Suspend a client: all its keys stop at once (reversible)',
        params: clientParams,
        body: z
          .object({ reason: z.string().max(500).optional() })
          .strict()
          .nullish(),
        response: { 200: z.object({ client: clientSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.suspend(
        request.params.id,
        actorOf(request),
        request.body?.reason,
      ),
    }),
  );

  app.post(
    '/clients/:id/reactivate',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Reactivate a suspended client',
        params: clientParams,
        response: { 200: z.object({ client: clientSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.reactivate(request.params.id, actorOf(request)),
    }),
  );

  app.delete(
    '/clients/:id',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Delete a client permanently (keys destroyed, PII scrubbed, tombstone kept)',
        params: clientParams,
        response: { 200: z.object({ client: clientSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.delete(request.params.id, actorOf(request)),
    }),
  );

  app.post(
    '/clients/:id/keys',
    {
      preHandler: keysWrite,
      schema: {
        tags: keyTags,
        summary: 'Issue a key for a client (shown once)',
        params: clientParams,
        body: createKeyBody,
        response: { 201: createdKeySchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await services.keys.create(request.params.id, request.body, actorOf(request))),
  );

  app.get(
    '/clients/:id/keys',
    {
      preHandler: keysRead,
      schema: {
        tags: keyTags,
        summary: "List a client's keys",
        params: clientParams,
        querystring: paginationQuery,
        response: { 200: keyList, ...errorResponses },
      },
    },
    async (request) => {
      await services.clients.get(request.params.id);
      return services.keys.list(request.params.id, request.query);
    },
  );

  app.get(
    '/clients/:id/keys/:keyId',
    {
      preHandler: keysRead,
      schema: {
        tags: keyTags,
        summary: 'Get one key',
        params: keyParams,
        response: { 200: z.object({ key: apiKeySchema }), ...errorResponses },
      },
    },
    async (request) => ({ key: await services.keys.get(request.params.id, request.params.keyId) }),
  );

  app.post(
    '/clients/:id/keys/:keyId/revoke',
    {
      preHandler: keysWrite,
      schema: {
        tags: keyTags,
        summary: 'Revoke a key, with an optional reason',
        params: keyParams,
        body: revokeBody.nullish(),
        response: { 200: z.object({ key: apiKeySchema }), ...errorResponses },
      },
    },
    async (request) => ({
      key: await services.keys.revoke(
        request.params.id,
        request.params.keyId,
        actorOf(request),
        request.body?.reason,
      ),
    }),
  );

  app.post(
    '/clients/:id/keys/:keyId/reactivate',
    {
      preHandler: keysWrite,
      schema: {
        tags: keyTags,
        summary: 'Reactivate a revoked key',
        params: keyParams,
        response: { 200: z.object({ key: apiKeySchema }), ...errorResponses },
      },
    },
    async (request) => ({
      key: await services.keys.reactivate(
        request.params.id,
        request.params.keyId,
        actorOf(request),
      ),
    }),
  );

  app.post(
    '/clients/:id/keys/:keyId/roll',
    {
      preHandler: keysWrite,
      schema: {
        tags: keyTags,
        summary: 'Roll a key: a new key now, the old one works until the grace deadline',
        params: keyParams,
        body: rollBody.nullish(),
        response: { 201: rolledKeySchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await services.keys.roll(
            request.params.id,
            request.params.keyId,
            actorOf(request),
            request.body?.gracePeriodSeconds,
          ),
        ),
  );

  app.delete(
    '/clients/:id/keys/:keyId',
    {
      preHandler: keysWrite,
      schema: {
        tags: keyTags,
        summary: 'Delete a key permanently',
        params: keyParams,
        response: { 204: z.null().describe('deleted'), ...errorResponses },
      },
    },
    async (request, reply) => {
      await services.keys.delete(request.params.id, request.params.keyId, actorOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/verify',
    {
      preHandler: requireAdmin(services, 'verify'),
      schema: {
        tags: ['admin: verify'],
        summary: 'Verify a key for a service that checks keys itself (always 200)',
        body: z.object({
          key: z.string().max(4096),
          scopes: z.array(z.string().max(64)).max(100).optional(),
          ip: z.string().max(64).optional(),
          endpoint: z.string().max(300).optional(),
        }),
        response: {
          200: z.object({
            valid: z.boolean(),
            code: z.string(),
            clientId: z.string().nullable(),
            keyId: z.string().nullable(),
            scopes: z.array(z.string()),
            environment: z.enum(['live', 'test']).nullable(),
            ratelimit: z
              .object({ limit: z.number(), remaining: z.number(), reset: z.number() })
              .nullable(),
            remaining: z.number().nullable(),
            reason: z
              .enum(['credits', 'budget'])
              .optional()
              .describe("USAGE_EXCEEDED: what ran out (the key's credits or a hard budget)"),
            budgetId: z.string().optional(),
            budgetResetAt: z
              .number()
              .optional()
              .describe('reason budget: when its period ends (epoch ms)'),
            meta: z.record(z.string(), z.unknown()),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { key, ...opts } = request.body;
      const { auth: _auth, ...result } = await services.keys.verify(key, opts);
      if (!result.valid) {
        void services.keys.reportFailure({
          code: result.code,
          ip: opts.ip,
          endpoint: opts.endpoint,
          rawKey: key,
          keyId: result.keyId,
          clientId: result.clientId,
        });
      }
      return result;
    },
  );

  app.get(
    '/keys/legacy',
    {
      preHandler: keysRead,
      schema: {
        tags: keyTags,
        summary: 'Imported legacy keys: how many exist, are active, and were used in 30 days',
        description:
          'Legacy keys are keys imported by hash from another system (`keyplane import`). Rolling one issues a Keyplane key; retire them until `active` is 0.',
        response: {
          200: z.object({
            total: z.number().int(),
            active: z.number().int(),
            usedLast30Days: z.number().int(),
          }),
          ...errorResponses,
        },
      },
    },
    async () => services.keys.legacySummary(),
  );
}
