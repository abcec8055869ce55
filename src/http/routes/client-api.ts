import { z } from 'zod';
import { isoOf } from '../../lib/clock.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { requireClient } from '../client-auth.ts';
import { errorResponses, paginationQuery } from '../schemas.ts';
import { apiKeySchema, createdKeySchema, keyList, rolledKeySchema } from './key-schemas.ts';
import { createKeyInput, revokeKeyInput, rollKeyInput } from '../../keys/index.ts';
import { clientSchema } from './clients.ts';
import { budgetSchema } from './budgets.ts';

const tags = ['client'];
const security = [{ apiKey: [] }];
const keyParams = z.object({ id: z.string().min(1).max(100) });

/** The two preHandlers of the self-service routes: any valid key, or one with keys:write. */
interface ClientGuards {
  auth: ReturnType<typeof requireClient>;
  keysWrite: ReturnType<typeof requireClient>;
}

/** A client acting on its own keys, as the audit log names it. */
function clientActor(request: { client: { keyId: string } | null; ip: string }) {
  return { type: 'client' as const, id: request.client!.keyId, ip: request.ip };
}

/** The self-service API (`/v1`): a client's view of itself and its own keys. */
export async function clientApiRoutes(app: App, services: Services) {
  const guards: ClientGuards = {
    auth: requireClient(services),
    keysWrite: requireClient(services, { scope: 'keys:write' }),
  };
  healthRoute(app, guards);
  meRoute(app, services, guards);
  ownKeyReadRoutes(app, services, guards);
  createOwnKeyRoute(app, services, guards);
  revokeOwnKeyRoute(app, services, guards);
  rollOwnKeyRoute(app, services, guards);
}

function healthRoute(app: App, { auth }: ClientGuards) {
  app.get(
    '/health',
    {
      preHandler: auth,
      schema: {
        tags,
        summary: "Check a key: the client's key check (seed 01)",
        security,
        response: {
          200: z.object({
            status: z.literal('ok'),
            timestamp: z.string(),
            client: z.object({ id: z.string(), name: z.string() }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => ({
      status: 'ok' as const,
      timestamp: isoOf(Date.now()),
      client: { id: request.client!.clientId, name: request.client!.clientName },
    }),
  );
}

function meRoute(app: App, services: Services, { auth }: ClientGuards) {
  app.get(
    '/me',
    {
      preHandler: auth,
      schema: {
        tags,
        summary: 'Own client profile and the calling key',
        security,
        response: {
          200: z.object({
            client: clientSchema,
            key: apiKeySchema,
            budgets: z
              .array(budgetSchema)
              .describe("the client's budgets (client-wide and per key) and their spend so far"),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const c = request.client!;
      const [client, key, budgets] = await Promise.all([
        services.clients.get(c.clientId),
        services.keys.get(c.clientId, c.keyId),
        services.budgets.list(c.clientId),
      ]);
      return { client, key, budgets };
    },
  );
}

/** GET /keys and GET /keys/:id: the client's own keys. */
function ownKeyReadRoutes(app: App, services: Services, { auth }: ClientGuards) {
  app.get(
    '/keys',
    {
      preHandler: auth,
      schema: {
        tags,
        summary: 'List own keys',
        security,
        querystring: paginationQuery,
        response: { 200: keyList, ...errorResponses },
      },
    },
    async (request) => services.keys.list(request.client!.clientId, request.query),
  );

  app.get(
    '/keys/:id',
    {
      preHandler: auth,
      schema: {
        tags,
        summary: 'Get one own key',
        security,
        params: keyParams,
        response: { 200: z.object({ key: apiKeySchema }), ...errorResponses },
      },
    },
    async (request) => ({
      key: await services.keys.get(request.client!.clientId, request.params.id),
    }),
  );
}

function createOwnKeyRoute(app: App, services: Services, { keysWrite }: ClientGuards) {
  app.post(
    '/keys',
    {
      preHandler: keysWrite,
      schema: {
        tags,
        summary: 'Create an own key (scope keys:write; the key is shown once)',
        security,
        body: createKeyInput,
        response: { 201: createdKeySchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      // A key cannot hand out more than it holds (scopes, limits, expiry, allowlist).
      return reply
        .code(201)
        .send(await services.keys.createOwn(request.client!, request.body, clientActor(request)));
    },
  );
}

function revokeOwnKeyRoute(app: App, services: Services, { keysWrite }: ClientGuards) {
  app.post(
    '/keys/:id/revoke',
    {
      preHandler: keysWrite,
      schema: {
        tags,
        summary: 'Revoke an own key (scope keys:write)',
        security,
        params: keyParams,
        body: revokeKeyInput.nullish(),
        response: { 200: z.object({ key: apiKeySchema }), ...errorResponses },
      },
    },
    async (request) => ({
      key: await services.keys.revoke(
        request.client!.clientId,
        request.params.id,
        clientActor(request),
        request.body?.reason,
      ),
    }),
  );
}

function rollOwnKeyRoute(app: App, services: Services, { keysWrite }: ClientGuards) {
  app.post(
    '/keys/:id/roll',
    {
      preHandler: keysWrite,
      schema: {
        tags,
        summary:
          'Roll an own key (scope keys:write): new key now, old one until the grace deadline',
        security,
        params: keyParams,
        body: rollKeyInput.nullish(),
        response: { 201: rolledKeySchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      return reply
        .code(201)
        .send(
          await services.keys.rollOwn(
            request.client!,
            request.params.id,
            clientActor(request),
            request.body?.gracePeriodSeconds,
          ),
        );
    },
  );
}
