import { z } from 'zod';
import { ADMIN_SCOPES, hasAdminScope } from '../../admin-tokens/index.ts';
import { AppError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { errorResponses, idParams } from '../schemas.ts';

export const adminTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  start: z.string().describe('first characters of the token, safe to show'),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  createdBy: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  status: z.enum(['active', 'revoked']),
});

export async function adminTokenRoutes(app: App, services: Services) {
  const auth = requireAdmin(services, 'tokens:write');
  app.post(
    '/admin-tokens',
    {
      preHandler: auth,
      schema: {
        tags: ['admin tokens'],
        summary: 'Create an admin token (the token is shown once)',
        body: z.object({
          name: z.string().min(1).max(200),
          scopes: z.array(z.enum(ADMIN_SCOPES)).optional().describe('default: ["admin"]'),
        }),
        response: {
          201: z.object({ adminToken: adminTokenSchema, token: z.string() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      // A token cannot hand out more than it holds (`tokens:write` alone must not mint `admin`).
      const wanted = request.body.scopes?.length ? request.body.scopes : ['admin'];
      const beyond = wanted.filter((s) => !hasAdminScope(request.admin!, s));
      if (beyond.length) {
        throw new AppError(
          'insufficient_scope',
          `cannot grant scopes this admin token does not hold: ${beyond.join(', ')}`,
        );
      }
      const created = await services.adminTokens.create({
        ...request.body,
        actor: actorOf(request),
      });
      return reply.code(201).send(created);
    },
  );
  app.get(
    '/admin-tokens',
    {
      preHandler: auth,
      schema: {
        tags: ['admin tokens'],
        summary: 'List admin tokens',
        response: { 200: z.object({ data: z.array(adminTokenSchema) }), ...errorResponses },
      },
    },
    async () => ({ data: await services.adminTokens.list() }),
  );
  app.post(
    '/admin-tokens/:id/revoke',
    {
      preHandler: auth,
      schema: {
        tags: ['admin tokens'],
        summary: 'Revoke an admin token',
        description:
          'A token may revoke only tokens whose scopes it holds itself (`admin` holds all); otherwise 403 insufficient_scope.',
        params: idParams,
        response: { 200: z.object({ adminToken: adminTokenSchema }), ...errorResponses },
      },
    },
    async (request) => ({
      adminToken: await services.adminTokens.revoke(
        request.params.id,
        actorOf(request),
        request.admin!,
      ),
    }),
  );
}
