import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  clearedCookie,
  type DashboardSession,
  SESSION_COOKIE,
  sessionCookie,
} from '../../dashboard/index.ts';
import type { VerifyCode, VerifyResult } from '../../keys/index.ts';
import { AppError } from '../../lib/errors.ts';
import { hashKey } from '../../lib/key-format.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { OUTCOME, endpointOf, rateLimitHeaders } from '../client-auth.ts';
import {
  adminTokenOf,
  hasDashboardHeader,
  isSecureRequest,
  sessionCookieOf,
  sessionOfKind,
} from '../dashboard-cookie.ts';
import { errorResponses } from '../schemas.ts';

const tags = ['dashboard'];

const sessionSchema = z
  .object({
    kind: z.enum(['operator', 'client']),
    name: z.string().describe("the admin token's name, or the client's name"),
    scopes: z.array(z.string()).describe('exactly the scopes of the token or key signed in with'),
    clientId: z.string().nullable(),
    keyId: z.string().nullable(),
    expiresAt: z.string().describe('ISO-8601; sessions last 12 hours from sign-in'),
  })
  .describe('A web dashboard session (the cookie itself is HttpOnly and never in a body)');

const sessionResponse = z.object({ session: sessionSchema });

const signInBody = z
  .union([
    z
      .object({ adminToken: z.string().min(1).max(1000).describe('operator: an admin token') })
      .strict(),
    z
      .object({ apiKey: z.string().min(1).max(1000).describe('client: one of its API keys') })
      .strict(),
  ])
  .describe('Exactly one of adminToken or apiKey');

type SessionView = z.infer<typeof sessionSchema>;

/** A failed key verification as SPEC §2 maps it (401/403/429), like requireClient. */
function keyRefused(services: Services, result: VerifyResult): AppError {
  const { code, message } = OUTCOME[result.code as Exclude<VerifyCode, 'VALID'>];
  const headers = result.ratelimit
    ? rateLimitHeaders(result.ratelimit, services.clock.now().getTime())
    : undefined;
  return new AppError(code, message, { headers, context: { outcome: result.code } });
}

function view(
  session: Pick<DashboardSession, 'kind' | 'clientId' | 'keyId' | 'expiresAt'>,
  name: string,
  scopes: string[],
): { session: SessionView } {
  const { kind, clientId, keyId, expiresAt } = session;
  return { session: { kind, name, scopes, clientId, keyId, expiresAt } };
}

function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
}

/**
 * The web dashboard's sign-in (SPEC §8, /work/briefs/dashboard-contract.md): an admin token or a
 * client key is checked once here and exchanged for an HttpOnly, SameSite=Strict session cookie
 * holding a random id. The existing /admin/v1 and /v1 routes accept that cookie (with the
 * `X-Keyplane-Dashboard: 1` header) in place of the header credential; see dashboard-cookie.ts.
 */
export async function dashboardSessionRoutes(app: App, services: Services) {
  signInRoute(app, services);
  sessionRoutes(app, services);
}

type Opened = {
  opened: Awaited<ReturnType<Services['dashboard']['open']>>;
  name: string;
  scopes: string[];
};

/** The session behind the cookie, checked against its token or key right now. */
async function current(
  services: Services,
  request: FastifyRequest,
): Promise<{ session: SessionView }> {
  const session = await sessionOfKind(services, request);
  if (!session) throw new AppError('unauthorized', 'not signed in');
  if (session.kind === 'operator') {
    const token = await adminTokenOf(services, session);
    return view(session, token.name, token.scopes);
  }
  // Who am I: the same checks as any request with the key, without using up a rate-limit
  // slot or a credit.
  const result = await services.keys.verifyHash(session.keyHash!, {
    ip: request.ip,
    endpoint: endpointOf(request),
    consume: false,
  });
  if (!result.valid) throw keyRefused(services, result);
  return view(session, result.auth!.clientName, result.scopes);
}

async function openOperator(
  services: Services,
  request: FastifyRequest,
  adminToken: string,
): Promise<Opened> {
  const token = await services.adminTokens.authenticate(adminToken);
  if (!token) throw new AppError('unauthorized', 'invalid or revoked admin token');
  const opened = await services.dashboard.open(
    { kind: 'operator', adminTokenId: token.id },
    { type: 'admin', id: token.id, ip: request.ip },
  );
  return { opened, name: token.name, scopes: token.scopes };
}

async function openClient(
  services: Services,
  request: FastifyRequest,
  apiKey: string,
): Promise<Opened> {
  const endpoint = endpointOf(request);
  const result = await services.keys.verify(apiKey, { ip: request.ip, endpoint });
  if (!result.valid) {
    void services.keys.reportFailure({
      code: result.code,
      ip: request.ip,
      endpoint,
      rawKey: apiKey,
      keyId: result.keyId,
      clientId: result.clientId,
    });
    throw keyRefused(services, result);
  }
  // Signing in is not a metered call: a price reserved on the client's budgets goes back.
  if (result.budgetHold) services.budgets.gate.cancel(result.budgetHold);
  const auth = result.auth!;
  const opened = await services.dashboard.open(
    {
      kind: 'client',
      keyHash: hashKey(apiKey),
      clientId: auth.clientId,
      keyId: auth.keyId,
    },
    { type: 'client', id: auth.keyId, ip: request.ip },
  );
  return { opened, name: auth.clientName, scopes: auth.scopes };
}

function signInRoute(app: App, services: Services) {
  app.post(
    '/session',
    {
      schema: {
        tags,
        summary: 'Sign in to the web dashboard (sets the kp_session cookie)',
        description:
          'Operators sign in with an admin token, clients with one of their API keys. The answer ' +
          'sets `kp_session` (HttpOnly; SameSite=Strict; Path=/; Max-Age=43200; Secure over ' +
          'https) and never echoes the credential. A bad credential is 401; a key is checked ' +
          'exactly as on the client API (suspended client 403, and so on).',
        body: signInBody,
        response: { 200: sessionResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      noStore(reply);
      const body = request.body;
      const { opened, name, scopes } =
        'adminToken' in body
          ? await openOperator(services, request, body.adminToken)
          : await openClient(services, request, body.apiKey);
      reply.header(
        'set-cookie',
        sessionCookie(SESSION_COOKIE, opened.secret, {
          maxAgeSeconds: services.dashboard.ttlSeconds,
          secure: isSecureRequest(request),
        }),
      );
      return view(opened.session, name, scopes);
    },
  );
}

/** Who is signed in, and signing out. */
function sessionRoutes(app: App, services: Services) {
  app.get(
    '/session',
    {
      schema: {
        tags,
        summary: 'The signed-in dashboard session',
        description:
          '401 when there is no session, or it expired, or its admin token or key no longer ' +
          'works. Needs the `X-Keyplane-Dashboard: 1` header.',
        response: { 200: sessionResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      noStore(reply);
      return current(services, request);
    },
  );

  app.delete(
    '/session',
    {
      schema: {
        tags,
        summary: 'Sign out of the web dashboard',
        description:
          'Deletes the session and clears the cookie (Max-Age=0). Answers 204 even when there ' +
          'was no session; with a session cookie it needs the `X-Keyplane-Dashboard: 1` header.',
        response: { 204: z.null().describe('signed out'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const secret = sessionCookieOf(request);
      if (secret !== undefined && !hasDashboardHeader(request)) {
        throw new AppError('forbidden', 'dashboard requests must carry X-Keyplane-Dashboard: 1');
      }
      if (secret) await services.dashboard.close(secret, request.ip);
      noStore(reply);
      reply.header(
        'set-cookie',
        clearedCookie(SESSION_COOKIE, { secure: isSecureRequest(request) }),
      );
      return reply.code(204).send(null);
    },
  );
}
