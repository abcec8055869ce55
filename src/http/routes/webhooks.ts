import type { FastifyRequest, preHandlerHookHandler } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../../audit/index.ts';
import type { Services } from '../../services.ts';
import { EVENT_TYPES } from '../../webhooks/index.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { requireClient } from '../client-auth.ts';
import { errorResponses, idParams, paginationQuery } from '../schemas.ts';

export const webhookEndpointSchema = z.object({
  id: z.string().meta({ example: 'ep_0193f3a1b2c4d5e6f708192a3b' }),
  clientId: z.string().nullable().describe("null: the operator's endpoint (every client's events)"),
  url: z.string(),
  description: z.string(),
  eventTypes: z.array(z.string()).describe('the types sent; empty = every type'),
  enabled: z.boolean(),
  disabledReason: z.string().nullable(),
  failingSince: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const eventTypes = z.array(z.enum(EVENT_TYPES)).max(EVENT_TYPES.length);
const endpointBody = z
  .object({
    url: z
      .string()
      .min(8)
      .max(2000)
      .describe('https (http and private addresses only in development mode)'),
    description: z.string().max(500).optional(),
    eventTypes: eventTypes.optional().describe('default: every type'),
    enabled: z.boolean().optional(),
  })
  .strict();
const withSecret = z.object({
  endpoint: webhookEndpointSchema,
  secret: z.string().describe('the signing secret (whsec_…), shown only this once'),
});
const deliverySchema = z.object({
  id: z.string(),
  endpointId: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
const messageSchema = z.object({
  id: z.string().describe('also the webhook-id header of every send and replay'),
  eventType: z.string(),
  clientId: z.string().nullable(),
  payload: z.unknown(),
  createdAt: z.string(),
  deliveries: z.array(deliverySchema),
});
const attemptSchema = z.object({
  id: z.string(),
  deliveryId: z.string(),
  endpointId: z.string(),
  attempt: z.number().int(),
  startedAt: z.string(),
  durationMs: z.number().int(),
  statusCode: z.number().int().nullable(),
  outcome: z.enum(['delivered', 'failed']),
  error: z.string().nullable(),
  responseExcerpt: z.string().nullable(),
});
const messageDetail = messageSchema.extend({ attempts: z.array(attemptSchema) });

interface Face {
  /** operationId prefix: `admin` for the operator's routes, none for a client's. */
  prefix: '' | 'admin';
  tags: string[];
  security: Array<Record<string, string[]>>;
  read: preHandlerHookHandler;
  write: preHandlerHookHandler;
  /** Whose endpoints: the client's id, or null for the operator. */
  ownerOf: (request: FastifyRequest) => string | null;
  actor: (request: FastifyRequest) => Actor;
}

const op = (face: Face, name: string) =>
  face.prefix ? `admin${name[0]!.toUpperCase()}${name.slice(1)}` : name;

/** The same routes for the operator (/admin/v1/webhooks) and for a client (/v1/webhooks). */
function webhookFace(app: App, services: Services, face: Face) {
  eventTypesRoute(app, face);
  endpointReadRoutes(app, services, face);
  endpointChangeRoutes(app, services, face);
  messageRoutes(app, services, face);
}

function eventTypesRoute(app: App, face: Face) {
  const { tags } = face;
  app.get(
    '/webhooks/event-types',
    {
      preHandler: face.read,
      schema: {
        operationId: op(face, 'listWebhookEventTypes'),
        tags,
        security: face.security,
        summary: 'The event types an endpoint may subscribe to',
        response: { 200: z.object({ data: z.array(z.string()) }), ...errorResponses },
      },
    },
    async () => ({ data: [...EVENT_TYPES] }),
  );
}

/** Register, list and read endpoints. */
function endpointReadRoutes(app: App, services: Services, face: Face) {
  const hooks = services.webhooks;
  const { tags } = face;
  app.post(
    '/webhooks/endpoints',
    {
      preHandler: face.write,
      schema: {
        operationId: op(face, 'createWebhookEndpoint'),
        tags,
        security: face.security,
        summary: 'Register an endpoint (its signing secret is shown once)',
        body: endpointBody,
        response: { 201: withSecret, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await hooks.createEndpoint(face.ownerOf(request), request.body, face.actor(request))),
  );

  app.get(
    '/webhooks/endpoints',
    {
      preHandler: face.read,
      schema: {
        operationId: op(face, 'listWebhookEndpoints'),
        tags,
        security: face.security,
        summary: 'List endpoints',
        response: { 200: z.object({ data: z.array(webhookEndpointSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await hooks.listEndpoints(face.ownerOf(request)) }),
  );

  app.get(
    '/webhooks/endpoints/:id',
    {
      preHandler: face.read,
      schema: {
        operationId: op(face, 'getWebhookEndpoint'),
        tags,
        security: face.security,
        summary: 'Get an endpoint',
        params: idParams,
        response: { 200: z.object({ endpoint: webhookEndpointSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      endpoint: await hooks.getEndpoint(face.ownerOf(request), request.params.id),
    }),
  );
}

/** Change, delete, roll the secret. */
function endpointChangeRoutes(app: App, services: Services, face: Face) {
  const hooks = services.webhooks;
  const { tags } = face;
  app.patch(
    '/webhooks/endpoints/:id',
    {
      preHandler: face.write,
      schema: {
        operationId: op(face, 'updateWebhookEndpoint'),
        tags,
        security: face.security,
        summary: 'Change the URL, description, event types or enabled (enabling clears a disable)',
        params: idParams,
        body: endpointBody.partial(),
        response: { 200: z.object({ endpoint: webhookEndpointSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      endpoint: await hooks.updateEndpoint(
        face.ownerOf(request),
        request.params.id,
        request.body,
        face.actor(request),
      ),
    }),
  );

  app.delete(
    '/webhooks/endpoints/:id',
    {
      preHandler: face.write,
      schema: {
        operationId: op(face, 'deleteWebhookEndpoint'),
        tags,
        security: face.security,
        summary: 'Delete an endpoint (its pending deliveries are dropped)',
        params: idParams,
        response: { 204: z.null().describe('deleted'), ...errorResponses },
      },
    },
    async (request, reply) => {
      await hooks.deleteEndpoint(face.ownerOf(request), request.params.id, face.actor(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/webhooks/endpoints/:id/roll-secret',
    {
      preHandler: face.write,
      schema: {
        operationId: op(face, 'rollWebhookEndpointSecret'),
        tags,
        security: face.security,
        summary: 'New signing secret (shown once); the old one also signs during the grace period',
        params: idParams,
        body: z
          .object({
            graceSeconds: z
              .number()
              .int()
              .min(0)
              .max(7 * 86400)
              .optional()
              .describe('default 86400: both secrets sign until then (two v1, signatures)'),
          })
          .strict()
          .nullish(),
        response: { 200: withSecret, ...errorResponses },
      },
    },
    async (request) =>
      hooks.rollSecret(
        face.ownerOf(request),
        request.params.id,
        face.actor(request),
        request.body?.graceSeconds,
      ),
  );
}

/** The message log and replays. */
function messageRoutes(app: App, services: Services, face: Face) {
  const hooks = services.webhooks;
  const { tags } = face;
  app.get(
    '/webhooks/messages',
    {
      preHandler: face.read,
      schema: {
        operationId: op(face, 'listWebhookMessages'),
        tags,
        security: face.security,
        summary: 'The message log, newest first, with each delivery’s state',
        querystring: paginationQuery.extend({
          eventType: z.enum(EVENT_TYPES).optional(),
        }),
        response: {
          200: z.object({ data: z.array(messageSchema), nextCursor: z.string().nullable() }),
          ...errorResponses,
        },
      },
    },
    async (request) => hooks.listMessages(face.ownerOf(request), request.query),
  );

  app.get(
    '/webhooks/messages/:id',
    {
      preHandler: face.read,
      schema: {
        operationId: op(face, 'getWebhookMessage'),
        tags,
        security: face.security,
        summary: 'A message with every delivery attempt (status, duration, response excerpt)',
        params: idParams,
        response: { 200: z.object({ message: messageDetail }), ...errorResponses },
      },
    },
    async (request) => ({
      message: await hooks.getMessage(face.ownerOf(request), request.params.id),
    }),
  );

  app.post(
    '/webhooks/messages/:id/replay',
    {
      preHandler: face.write,
      schema: {
        operationId: op(face, 'replayWebhookMessage'),
        tags,
        security: face.security,
        summary: 'Send a message again, with the same webhook-id',
        params: idParams,
        body: z
          .object({ endpointId: z.string().max(100).optional() })
          .strict()
          .nullish(),
        response: { 202: z.object({ message: messageDetail }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const message = await hooks.replay(
        face.ownerOf(request),
        request.params.id,
        face.actor(request),
        request.body?.endpointId,
      );
      services.webhookDispatcher.wake();
      return reply.code(202).send({ message });
    },
  );
}

/** The operator's endpoints, for every client's events, and the whole message log. */
export async function adminWebhookRoutes(app: App, services: Services) {
  webhookFace(app, services, {
    prefix: 'admin',
    tags: ['admin: webhooks'],
    security: [{ bearer: [] }],
    read: requireAdmin(services, 'webhooks:read'),
    write: requireAdmin(services, 'webhooks:write'),
    ownerOf: () => null,
    actor: actorOf,
  });
}

/** A client's own endpoints, for its own events only (scope `webhooks:write`). */
export async function webhookRoutes(app: App, services: Services) {
  const auth = requireClient(services, { scope: 'webhooks:write' });
  webhookFace(app, services, {
    prefix: '',
    tags: ['webhooks'],
    security: [{ apiKey: [] }],
    read: auth,
    write: auth,
    ownerOf: (request) => request.client!.clientId,
    actor: (request) => ({ type: 'client', id: request.client!.keyId, ip: request.ip }),
  });
}
