import { z } from 'zod';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { errorResponses, paginationQuery } from '../schemas.ts';
import { clientParams } from './clients.ts';
import { apiKeySchema, createdKeySchema, keyList, rolledKeySchema } from './key-schemas.ts';
import { createKeyInput, revokeKeyInput, rollKeyInput, verifyKeyInput } from '../../keys/index.ts';

const keyParams = z.object({ id: z.string().min(1).max(100), keyId: z.string().min(1).max(100) });
const keyTags = ['admin: keys'];

/**
 * `/admin/v1`: a client's keys (issue, list, read, revoke / reactivate, roll, delete), key
 * verification for services that check keys themselves, and the imported legacy keys' summary.
 */
export async function adminKeyRoutes(app: App, services: Services) {
  issueKeyRoute(app, services);
  keyReadRoutes(app, services);
  keyStatusRoutes(app, services);
  rollKeyRoute(app, services);
  deleteKeyRoute(app, services);
  verifyRoute(app, services);
  legacyKeysRoute(app, services);
}

function issueKeyRoute(app: App, services: Services) {
  app.post(
    '/clients/:id/keys',
    {
      preHandler: requireAdmin(services, 'keys:write'),
      schema: {
        tags: keyTags,
        summary: 'Issue a key for a client (shown once)',
        params: clientParams,
        body: createKeyInput,
        response: { 201: createdKeySchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await services.keys.create(request.params.id, request.body, actorOf(request))),
  );
}

/** A client's keys, one page at a time, and one key. */
function keyReadRoutes(app: App, services: Services) {
  const keysRead = requireAdmin(services, 'keys:read');
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
}

/** Revoke and reactivate one key. */
function keyStatusRoutes(app: App, services: Services) {
  const keysWrite = requireAdmin(services, 'keys:write');
  app.post(
    '/clients/:id/keys/:keyId/revoke',
    {
      preHandler: keysWrite,
      schema: {
        tags: keyTags,
        summary: 'Revoke a key, with an optional reason',
        params: keyParams,
        body: revokeKeyInput.nullish(),
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
}

function rollKeyRoute(app: App, services: Services) {
  app.post(
    '/clients/:id/keys/:keyId/roll',
    {
      preHandler: requireAdmin(services, 'keys:write'),
      schema: {
        tags: keyTags,
        summary: 'Roll a key: a new key now, the old one works until the grace deadline',
        params: keyParams,
        body: rollKeyInput.nullish(),
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
}

function deleteKeyRoute(app: App, services: Services) {
  app.delete(
    '/clients/:id/keys/:keyId',
    {
      preHandler: requireAdmin(services, 'keys:write'),
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
}

const verifyReply = z.object({
  valid: z.boolean(),
  code: z.string(),
  clientId: z.string().nullable(),
  keyId: z.string().nullable(),
  scopes: z.array(z.string()),
  environment: z.enum(['live', 'test']).nullable(),
  ratelimit: z.object({ limit: z.number(), remaining: z.number(), reset: z.number() }).nullable(),
  remaining: z.number().nullable(),
  reason: z
    .enum(['credits', 'budget'])
    .optional()
    .describe("USAGE_EXCEEDED: what ran out (the key's credits or a hard budget)"),
  budgetId: z.string().optional(),
  budgetResetAt: z.number().optional().describe('reason budget: when its period ends (epoch ms)'),
  reservationId: z
    .string()
    .optional()
    .describe(
      "valid, with a price reserved on the client's budgets: pass it as the usage event's reservationId, which settles it at the real price",
    ),
  meta: z.record(z.string(), z.unknown()),
});

function verifyRoute(app: App, services: Services) {
  app.post(
    '/verify',
    {
      preHandler: requireAdmin(services, 'verify'),
      schema: {
        tags: ['admin: verify'],
        summary: 'Verify a key for a service that checks keys itself (always 200)',
        body: verifyKeyInput,
        response: { 200: verifyReply, ...errorResponses },
      },
    },
    async (request) => {
      const { key, ...opts } = request.body;
      const { auth: _auth, budgetHold, ...result } = await services.keys.verify(key, opts);
      // The service reports the call later: its reservation waits for that report.
      if (budgetHold && result.keyId && opts.endpoint) {
        const reservationId = await services.budgets.reserveForReport(budgetHold, {
          keyId: result.keyId,
          endpoint: opts.endpoint,
        });
        return { ...result, reservationId };
      }
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
}

function legacyKeysRoute(app: App, services: Services) {
  app.get(
    '/keys/legacy',
    {
      preHandler: requireAdmin(services, 'keys:read'),
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
