import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../lib/errors.ts';
import { LEAK_POLICIES } from '../../leaks/index.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { requireClient } from '../client-auth.ts';
import { errorEnvelope, errorResponses, idParams, paginationQuery } from '../schemas.ts';
import { apiKeySchema } from './key-schemas.ts';

const partnerTags = ['leaks: secret scanning partners'];
const adminTags = ['admin: leaks'];
const clientTags = ['client'];

const partnerErrors = { ...errorResponses, 413: errorEnvelope, 415: errorEnvelope };

const outcomeSchema = z.object({
  tokenHash: z.string().describe('SHA-256 hex of the reported token'),
  tokenType: z.string().nullable(),
  label: z.enum(['true_positive', 'false_positive']),
  action: z
    .enum(['revoked', 'rolled', 'notified', 'already_revoked', 'duplicate'])
    .nullable()
    .describe('what this report did; duplicate: an earlier report of the same token acted'),
  clientId: z.string().nullable(),
  keyId: z.string().nullable(),
  keyStart: z.string().nullable(),
});

const reportSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  keyId: z.string(),
  keyStart: z.string(),
  source: z.enum(['github', 'gitlab', 'operator', 'scan']),
  tokenType: z.string().nullable(),
  url: z.string().nullable(),
  action: z.enum(['revoked', 'rolled', 'notified', 'already_revoked', 'duplicate']),
  newKeyId: z.string().nullable(),
  createdAt: z.string(),
});

const policySchema = z.object({
  clientId: z.string(),
  policy: z.enum(LEAK_POLICIES),
  default: z.boolean().describe('true when the client has no policy of its own (config default)'),
});

/** A body over the bound is refused before it is read (chunked bodies: the parser's limit). */
function refuseLarge(limit: number) {
  return async (request: FastifyRequest) => {
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > limit) {
      throw new AppError('payload_too_large', `leak reports are limited to ${limit} bytes`);
    }
  };
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/**
 * Secret scanning partners (no client auth: the partner's signature or shared secret is the
 * auth). Registered in a scope of its own: the GitHub route needs the raw body bytes, so this
 * scope's JSON parser keeps them as a Buffer.
 */
export async function leakPartnerRoutes(app: App, services: Services) {
  const limit = services.config.leaks.maxBodyBytes;
  const keepRaw = (_req: FastifyRequest, body: Buffer, done: (e: null, b: Buffer) => void) =>
    done(null, body);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limit }, keepRaw);
  githubRoute(app, services, limit);
  gitlabRoutes(app, services, limit);
}

function githubRoute(app: App, services: Services, limit: number) {
  app.post(
    '/leaks/github',
    {
      preParsing: refuseLarge(limit),
      schema: {
        tags: partnerTags,
        operationId: 'reportGithubLeaks',
        security: [{ githubSignature: [] }],
        summary: 'GitHub secret scanning partner endpoint',
        description:
          'A JSON array of `{token, type, url, source}`, signed by GitHub: `Github-Public-Key-Identifier` names a key of the configured public keys document and `Github-Public-Key-Signature` is the base64 DER ECDSA P-256 SHA-256 signature of the raw body. Unsigned, tampered or replayed bodies answer 401/409, oversized ones 413. Each token is checked for its checksum, then looked up by hash; a live key gets its client’s leak policy once. Answers GitHub’s feedback shape.',
        headers: z.object({
          'github-public-key-identifier': z.string().max(200).optional(),
          'github-public-key-signature': z.string().max(400).optional(),
        }),
        response: {
          200: z.array(
            z.object({
              token_hash: z.string().describe('SHA-256 hex of the token'),
              token_type: z.string(),
              label: z.enum(['true_positive', 'false_positive']),
            }),
          ),
          ...partnerErrors,
        },
      },
    },
    async (request) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      return services.leaks.reportGithub(
        raw,
        {
          identifier: header(request, 'github-public-key-identifier'),
          signature: header(request, 'github-public-key-signature'),
        },
        request.ip,
      );
    },
  );
}

/** Self-managed GitLab's token revocation API. */
function gitlabRoutes(app: App, services: Services, limit: number) {
  app.get(
    '/leaks/gitlab/v1/revocable_token_types',
    {
      schema: {
        tags: partnerTags,
        operationId: 'listGitlabRevocableTokenTypes',
        security: [{ gitlabToken: [] }],
        summary: 'GitLab token revocation API: the token types this endpoint revokes',
        response: { 200: z.object({ types: z.array(z.string()) }), ...partnerErrors },
      },
    },
    async (request) => ({
      types: services.leaks.gitlabTokenTypes(header(request, 'authorization')),
    }),
  );

  app.post(
    '/leaks/gitlab/v1/revoke_tokens',
    {
      preParsing: refuseLarge(limit),
      schema: {
        tags: partnerTags,
        operationId: 'revokeGitlabLeakedTokens',
        security: [{ gitlabToken: [] }],
        summary: 'GitLab token revocation API: revoke leaked tokens',
        description:
          'Self-managed GitLab’s token revocation API (`token_revocation_url` = `…/v1/leaks/gitlab`): a JSON array of `{type, token, location}` with the shared secret `leaks.gitlab.token` in `Authorization`. 204 when every token was accepted; 400 for a bad body or an unsupported type.',
        response: { 204: z.null().describe('accepted'), ...partnerErrors },
      },
    },
    async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new AppError('invalid_json', 'request body is not valid JSON');
      }
      await services.leaks.reportGitlab(header(request, 'authorization'), body, request.ip);
      return reply.code(204).send(null);
    },
  );
}

/** The client portal's one view of rolled keys' replacements. */
export async function leakClientRoutes(app: App, services: Services) {
  app.get(
    '/leaks/rolled-keys',
    {
      preHandler: requireClient(services),
      schema: {
        tags: clientTags,
        operationId: 'countRolledKeys',
        summary: 'How many replacements of keys rolled after a leak wait to be shown',
        security: [{ apiKey: [] }],
        response: { 200: z.object({ pending: z.number().int() }), ...errorResponses },
      },
    },
    async (request) => ({
      pending: await services.leaks.pendingRolledKeys(request.client!.clientId),
    }),
  );

  app.post(
    '/leaks/rolled-keys/reveal',
    {
      preHandler: requireClient(services, { scope: 'keys:write' }),
      schema: {
        tags: clientTags,
        operationId: 'revealRolledKeys',
        summary: 'Show the replacements of keys rolled after a leak (each shown once)',
        description:
          'A key rolled by the `roll` leak policy gets a replacement that is held sealed until this call, which answers it once and deletes it. Needs `keys:write`, and only replacements whose powers the calling key holds itself are shown.',
        security: [{ apiKey: [] }],
        response: {
          200: z.object({
            data: z.array(
              z.object({
                key: apiKeySchema,
                apiKey: z.string().describe('the new key itself: shown exactly once'),
                replacedKeyId: z.string(),
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const auth = request.client!;
      return services.leaks.revealRolledKeys(
        auth.clientId,
        { type: 'client', id: auth.keyId, ip: request.ip },
        (keyId) =>
          services.keys.assertMayRoll(auth, keyId).then(
            () => true,
            () => false,
          ),
      );
    },
  );
}

export async function adminLeakRoutes(app: App, services: Services) {
  leakReportRoutes(app, services);
  leakPolicyRoutes(app, services);
}

/** The operator's reports (from any other scanner) and the list of reports. */
function leakReportRoutes(app: App, services: Services) {
  const keysRead = requireAdmin(services, 'keys:read');
  const keysWrite = requireAdmin(services, 'keys:write');
  app.post(
    '/leaks',
    {
      preHandler: keysWrite,
      schema: {
        tags: adminTags,
        operationId: 'reportLeaks',
        summary: 'Report leaked tokens found by any other scanner',
        body: z
          .object({
            tokens: z
              .array(
                z
                  .object({
                    token: z.string().max(1000),
                    type: z.string().max(200).optional(),
                    url: z.string().max(2000).optional().describe('where it was found'),
                  })
                  .strict(),
              )
              .min(1),
          })
          .strict(),
        response: { 200: z.object({ data: z.array(outcomeSchema) }), ...errorResponses },
      },
    },
    async (request) => ({
      data: await services.leaks.report(request.body.tokens, {
        source: 'operator',
        actor: actorOf(request),
      }),
    }),
  );

  app.get(
    '/leaks',
    {
      preHandler: keysRead,
      schema: {
        tags: adminTags,
        operationId: 'listLeakReports',
        summary: 'Keys reported as leaked, newest first (notify-policy keys stay flagged here)',
        querystring: paginationQuery.extend({ clientId: z.string().max(100).optional() }),
        response: {
          200: z.object({ data: z.array(reportSchema), nextCursor: z.string().nullable() }),
          ...errorResponses,
        },
      },
    },
    async (request) => services.leaks.listReports(request.query),
  );
}

function leakPolicyRoutes(app: App, services: Services) {
  const keysRead = requireAdmin(services, 'keys:read');
  const keysWrite = requireAdmin(services, 'keys:write');
  app.get(
    '/clients/:id/leak-policy',
    {
      preHandler: keysRead,
      schema: {
        tags: adminTags,
        operationId: 'getClientLeakPolicy',
        summary: "A client's leak policy (its own, or the configured default)",
        params: idParams,
        response: { 200: policySchema, ...errorResponses },
      },
    },
    async (request) => services.leaks.getPolicy(request.params.id),
  );

  app.put(
    '/clients/:id/leak-policy',
    {
      preHandler: keysWrite,
      schema: {
        tags: adminTags,
        operationId: 'setClientLeakPolicy',
        summary: "Set a client's leak policy (null: back to the configured default)",
        params: idParams,
        body: z.object({ policy: z.enum(LEAK_POLICIES).nullable() }).strict(),
        response: { 200: policySchema, ...errorResponses },
      },
    },
    async (request) =>
      services.leaks.setPolicy(request.params.id, request.body.policy, actorOf(request)),
  );
}
