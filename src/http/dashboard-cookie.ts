import type { FastifyRequest } from 'fastify';
import type { AdminToken } from '../admin-tokens/index.ts';
import {
  cookieValues,
  DASHBOARD_HEADER,
  type DashboardSession,
  SESSION_COOKIE,
  type SessionKind,
} from '../dashboard/index.ts';
import { AppError } from '../lib/errors.ts';
import type { Services } from '../services.ts';

/**
 * The dashboard's session cookie as a credential (SPEC §8): used by requireAdmin and
 * requireClient only when the request carries no header credential, and only with the
 * `X-Keyplane-Dashboard: 1` header (CSRF defense in depth on top of SameSite=Strict).
 */

/**
 * The session cookie's value: undefined when the request carries none, '' when it is unusable
 * (sent twice — a browser never does that for one host-only cookie).
 */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  const values = cookieValues(header, SESSION_COOKIE);
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0]! : '';
}

/** Whether the browser reached us over https (x-forwarded-proto only when trustProxy is set). */
export function isSecureRequest(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

export function hasDashboardHeader(request: FastifyRequest): boolean {
  return request.headers[DASHBOARD_HEADER] === '1';
}

function requireDashboardHeader(request: FastifyRequest): void {
  if (!hasDashboardHeader(request)) {
    throw new AppError(
      'forbidden',
      'requests authenticated by the dashboard session must carry X-Keyplane-Dashboard: 1',
    );
  }
}

/**
 * The live session behind the request's cookie (of `kind`, when given), or null when there is
 * no cookie. 401 for an unknown, expired, malformed or other-kind session; 403 without the
 * dashboard header. The one place a dashboard cookie is authenticated.
 */
export async function sessionOfKind(
  services: Services,
  request: FastifyRequest,
  kind?: SessionKind,
): Promise<DashboardSession | null> {
  const secret = sessionCookieOf(request);
  if (secret === undefined) return null;
  const session = secret ? await services.dashboard.lookup(secret) : null;
  if (!session) throw new AppError('unauthorized', 'dashboard session expired or unknown');
  if (kind && session.kind !== kind) {
    throw new AppError(
      'unauthorized',
      `this route needs ${kind === 'operator' ? 'an operator' : 'a client'} session`,
    );
  }
  requireDashboardHeader(request);
  return session;
}

/**
 * requireAdmin without a Bearer header: the admin token an operator session was opened with,
 * reloaded by id so a revoked token ends the session at once. null when there is no cookie.
 */
export async function adminOfSession(
  services: Services,
  request: FastifyRequest,
): Promise<AdminToken | null> {
  const session = await sessionOfKind(services, request, 'operator');
  return session ? adminTokenOf(services, session) : null;
}

/** The admin token an operator session was opened with; a revoked one ends the session (401). */
export async function adminTokenOf(
  services: Services,
  session: DashboardSession,
): Promise<AdminToken> {
  const token = await services.adminTokens.authenticateById(session.adminTokenId!);
  if (!token) {
    await services.dashboard.end(session.id);
    throw new AppError('unauthorized', 'the admin token of this session was revoked');
  }
  return token;
}

/**
 * requireClient without a key header: the at-rest hash of the key a client session was opened
 * with (verified by the caller through keys.verifyHash). null when there is no cookie.
 */
export async function keyHashOfSession(
  services: Services,
  request: FastifyRequest,
): Promise<string | null> {
  const session = await sessionOfKind(services, request, 'client');
  return session ? session.keyHash! : null;
}
