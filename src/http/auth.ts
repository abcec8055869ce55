import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { type AdminToken, hasAdminScope } from '../admin-tokens/index.ts';
import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import type { Services } from '../services.ts';
import type { App } from './app.ts';
import { adminOfSession } from './dashboard-cookie.ts';

declare module 'fastify' {
  interface FastifyRequest {
    admin: AdminToken | null;
  }
}

/** The bearer token of a request, or null when absent. Duplicated headers count as absent. */
export function bearerOf(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (typeof h !== 'string') return null;
  // Linear on any input: a nested quantifier here (`(\S+)*`) backtracks exponentially on a
  // long token followed by a space, and one such header would stall the event loop.
  const m = /^Bearer +(\S+)$/i.exec(h);
  return m?.[1] ?? null;
}

export function registerAuth(app: App): void {
  app.decorateRequest('admin', null);
}

/**
 * preHandler for `/admin/v1/*`: a valid admin token carrying `scope` (or `admin`).
 * 401 when the token is missing or unknown, 403 when it lacks the scope.
 */
export function requireAdmin(services: Services, scope: string): preHandlerAsyncHookHandler {
  return async function adminAuth(request: FastifyRequest, _reply: FastifyReply) {
    const bearer = bearerOf(request);
    // No Authorization header at all: the dashboard's operator session cookie may stand in.
    const session =
      bearer || request.headers.authorization !== undefined
        ? null
        : await adminOfSession(services, request);
    if (!bearer && !session)
      throw new AppError('unauthorized', 'admin token required (Authorization: Bearer …)');
    const token = session ?? (await services.adminTokens.authenticate(bearer!));
    if (!token) throw new AppError('unauthorized', 'invalid or revoked admin token');
    if (!hasAdminScope(token, scope)) {
      throw new AppError('insufficient_scope', `admin token lacks scope "${scope}"`);
    }
    request.admin = token;
  };
}

/** Who is acting, for the audit log. */
export function actorOf(request: FastifyRequest): Actor {
  if (request.admin) return { type: 'admin', id: request.admin.id, ip: request.ip };
  return { type: 'anonymous', id: 'anonymous', ip: request.ip };
}
