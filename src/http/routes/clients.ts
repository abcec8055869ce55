import { z } from 'zod';
import { hasAdminScope } from '../../admin-tokens/index.ts';
import {
  CLIENT_STATUSES,
  createClientInput,
  listClientsFilter,
  suspendClientInput,
  updateClientInput,
} from '../../clients/index.ts';
import { AppError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { errorResponses, paginationQuery } from '../schemas.ts';
import { rateLimitSchema } from '../../lib/rate-limit-setting.ts';
import { apiKeySchema } from './key-schemas.ts';

export const clientSchema = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  tier: z.string(),
  status: z.enum(CLIENT_STATUSES),
  metadata: z.record(z.string(), z.unknown()),
  defaultRateLimit: rateLimitSchema.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  suspendedAt: z.string().nullable(),
  deletedAt: z.string().nullable(),
});

export const clientParams = z.object({ id: z.string().min(1).max(100) });
const tags = ['admin: clients'];
const clientReply = z.object({ client: clientSchema });

/**
 * `/admin/v1/clients`: create, list, read, update, suspend / reactivate and delete clients.
 * The admin routes for a client's keys are in admin-keys.ts.
 */
export async function adminClientRoutes(app: App, services: Services) {
  createClientRoute(app, services);
  listClientsRoute(app, services);
  getClientRoute(app, services);
  updateClientRoute(app, services);
  clientStatusRoutes(app, services);
  deleteClientRoute(app, services);
}

function createClientRoute(app: App, services: Services) {
  app.post(
    '/clients',
    {
      preHandler: requireAdmin(services, 'clients:write'),
      schema: {
        tags,
        summary: 'Create a client and its first key (the key is shown once)',
        body: createClientInput,
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
}

function listClientsRoute(app: App, services: Services) {
  app.get(
    '/clients',
    {
      preHandler: requireAdmin(services, 'clients:read'),
      schema: {
        tags,
        summary: 'List clients',
        description:
          'With `include=keys` each client carries its keys, active and revoked (needs `keys:read` as well, like GET /clients/{id}).',
        querystring: paginationQuery.extend({
          status: listClientsFilter.shape.status,
          q: listClientsFilter.shape.search,
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
}

function getClientRoute(app: App, services: Services) {
  app.get(
    '/clients/:id',
    {
      preHandler: requireAdmin(services, 'clients:read'),
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
}

function updateClientRoute(app: App, services: Services) {
  app.patch(
    '/clients/:id',
    {
      preHandler: requireAdmin(services, 'clients:write'),
      schema: {
        tags,
        summary: 'Update name, email, tier, metadata or default rate limit',
        params: clientParams,
        body: updateClientInput,
        response: { 200: clientReply, ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.update(request.params.id, request.body, actorOf(request)),
    }),
  );
}

/** Suspend and reactivate: reversible, every key of the client stops or works again at once. */
function clientStatusRoutes(app: App, services: Services) {
  const write = requireAdmin(services, 'clients:write');
  app.post(
    '/clients/:id/suspend',
    {
      preHandler: write,
      schema: {
        tags,
        summary: 'Suspend a client: all its keys stop at once (reversible)',
        params: clientParams,
        body: suspendClientInput.nullish(),
        response: { 200: clientReply, ...errorResponses },
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
        response: { 200: clientReply, ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.reactivate(request.params.id, actorOf(request)),
    }),
  );
}

function deleteClientRoute(app: App, services: Services) {
  app.delete(
    '/clients/:id',
    {
      preHandler: requireAdmin(services, 'clients:write'),
      schema: {
        tags,
        summary: 'Delete a client permanently (keys destroyed, PII scrubbed, tombstone kept)',
        params: clientParams,
        response: { 200: clientReply, ...errorResponses },
      },
    },
    async (request) => ({
      client: await services.clients.delete(request.params.id, actorOf(request)),
    }),
  );
}
