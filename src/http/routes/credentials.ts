import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../../audit/index.ts';
import {
  CREDENTIAL_TYPES,
  PERMISSIONS,
  PLATFORM_OWNER,
  POLICIES,
  PROVIDERS,
} from '../../credentials/index.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { actorOf, requireAdmin } from '../auth.ts';
import { requireClient } from '../client-auth.ts';
import { errorResponses, page, paginationQuery } from '../schemas.ts';

/**
 * The credentials vault over HTTP (SPEC §3, §5): secrets go in and never come out, except to
 * an admin token with `credentials:resolve` (workers) via POST /admin/v1/credentials/resolve.
 */

const verificationStatus = z.enum(['verified', 'rejected', 'unreachable', 'unsupported']);

export const credentialSchema = z
  .object({
    id: z.string(),
    clientId: z.string().nullable().describe('null for a platform (operator) credential'),
    name: z.string(),
    provider: z.enum(PROVIDERS),
    type: z.enum(CREDENTIAL_TYPES),
    permissions: z.enum(PERMISSIONS),
    fields: z.array(z.string()).describe('names of the stored secret fields (never their values)'),
    isActive: z.boolean(),
    isVerified: z.boolean(),
    lastVerifiedAt: z.string().nullable(),
    verification: z
      .object({ status: verificationStatus, message: z.string() })
      .nullable()
      .describe('outcome of the last verification'),
    lastUsedAt: z.string().nullable(),
    usageCount: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    deletedAt: z.string().nullable(),
  })
  .describe('Credential metadata; the secret is write-only');

const verifiedSchema = credentialSchema.extend({
  verification: z.object({
    status: verificationStatus,
    message: z.string(),
    attempts: z.number().int(),
    checkedAt: z.string(),
  }),
});

const createBody = z.object({
  provider: z.enum(PROVIDERS).describe('which provider the secret is for'),
  credentialName: z.string().min(1).max(200).describe('a name unique per provider'),
  credentials: z
    .record(z.string(), z.unknown())
    .describe(
      'the secret, per provider: vultr {apiKey}; aws {accessKeyId, secretAccessKey, region?}; gcp {serviceAccountJson}; azure {tenantId, clientId, clientSecret, subscriptionId?}; gemini|openai|anthropic|exa|copilotkit {apiKey}; generic {any string fields}',
    )
    .meta({ example: { apiKey: 'YOUR-VULTR-API-KEY' } }),
  credentialType: z
    .enum(CREDENTIAL_TYPES)
    .optional()
    .describe("default: the provider's usual type"),
  permissions: z.enum(PERMISSIONS).optional().describe('default: read_only'),
});

const patchBody = z.object({
  credentialName: z.string().min(1).max(200).optional(),
  credentials: z.record(z.string(), z.unknown()).optional().describe('replaces the secret'),
  credentialType: z.enum(CREDENTIAL_TYPES).optional(),
  permissions: z.enum(PERMISSIONS).optional(),
  isActive: z.boolean().optional(),
});

const listQuery = paginationQuery.extend({
  provider: z.enum(PROVIDERS).optional(),
  includeDeleted: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true')
    .describe('also list soft-deleted credentials'),
});

const auditEntry = z.object({
  id: z.string(),
  createdAt: z.string(),
  action: z.string(),
  actorType: z
    .string()
    .describe(
      "client, admin, cli or system; in a client's own trail anyone but the client is shown as operator or system",
    ),
  actorId: z
    .string()
    .optional()
    .describe("absent in a client's trail when the actor is not the client itself"),
  ip: z
    .string()
    .nullable()
    .optional()
    .describe("absent in a client's trail when the actor is not the client itself"),
  data: z.record(z.string(), z.unknown()),
});

const summarySchema = z.object({
  clientId: z.string(),
  totalCredentials: z.number().int(),
  providers: z.record(
    z.string(),
    z.object({ total: z.number().int(), active: z.number().int(), verified: z.number().int() }),
  ),
});

const idParams = z.object({ id: z.string().min(1).max(100) });
const clientCredParams = z.object({
  id: z.string().min(1).max(100).describe('client id'),
  credentialId: z.string().min(1).max(100),
});

function clientActor(request: FastifyRequest): Actor {
  return { type: 'client', id: request.client!.keyId, ip: request.ip };
}

/** How one owner's credential routes are mounted: where, for whom, with which checks. */
interface OwnerRoutesOptions {
  base: string;
  idParam: 'id' | 'credentialId';
  params: z.ZodObject;
  tags: string[];
  security: Array<Record<string, string[]>>;
  read: ReturnType<typeof requireClient>;
  write: ReturnType<typeof requireClient>;
  ownerOf: (request: FastifyRequest) => Promise<string> | string;
  actor: (request: FastifyRequest) => Actor;
  /** Whose eyes the audit trail is for: a client sees operators without id or IP. */
  trailView: 'client' | 'operator';
}

/** The options with what every route derives from them. */
interface OwnerRoutes extends OwnerRoutesOptions {
  one: string;
  credId: (request: FastifyRequest) => string;
  baseParams: z.ZodObject | undefined;
  vault: Services['credentials'];
}

/** The routes of one owner's credentials; `ownerOf` names whose they are. */
function credentialRoutes(app: App, services: Services, opts: OwnerRoutesOptions) {
  const o: OwnerRoutes = {
    ...opts,
    one: `${opts.base}/:${opts.idParam}`,
    credId: (request) => (request.params as Record<string, string>)[opts.idParam]!,
    baseParams: opts.idParam === 'id' ? undefined : opts.params.pick({ id: true }),
    vault: services.credentials,
  };
  storeAndListRoutes(app, o);
  oneCredentialRoutes(app, o);
  verifyAndTrailRoutes(app, o);
}

/** POST and GET on the collection. */
function storeAndListRoutes(app: App, o: OwnerRoutes) {
  app.post(
    o.base,
    {
      preHandler: o.write,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: 'Store a credential (the secret is write-only)',
        ...(o.baseParams && { params: o.baseParams }),
        body: createBody,
        response: { 201: credentialSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const created = await o.vault.create(
        await o.ownerOf(request),
        request.body,
        o.actor(request),
      );
      return reply.code(201).send(created);
    },
  );

  app.get(
    o.base,
    {
      preHandler: o.read,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: 'List credentials (metadata only)',
        ...(o.baseParams && { params: o.baseParams }),
        querystring: listQuery,
        response: { 200: page(credentialSchema), ...errorResponses },
      },
    },
    async (request) => o.vault.list(await o.ownerOf(request), request.query),
  );
}

/** GET, PATCH and DELETE of one credential. */
function oneCredentialRoutes(app: App, o: OwnerRoutes) {
  app.get(
    o.one,
    {
      preHandler: o.read,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: 'One credential (metadata only)',
        params: o.params,
        response: { 200: credentialSchema, ...errorResponses },
      },
    },
    async (request) => o.vault.get(await o.ownerOf(request), o.credId(request)),
  );

  app.patch(
    o.one,
    {
      preHandler: o.write,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: 'Rename, re-permission, (de)activate, or replace the secret',
        params: o.params,
        body: patchBody,
        response: { 200: credentialSchema, ...errorResponses },
      },
    },
    async (request) =>
      o.vault.update(await o.ownerOf(request), o.credId(request), request.body, o.actor(request)),
  );

  app.delete(
    o.one,
    {
      preHandler: o.write,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: 'Soft-delete a credential: it becomes inactive and its data key is shredded',
        params: o.params,
        response: { 200: credentialSchema, ...errorResponses },
      },
    },
    async (request) =>
      o.vault.remove(await o.ownerOf(request), o.credId(request), o.actor(request)),
  );
}

/** Verification against the provider, and the credential's own audit trail. */
function verifyAndTrailRoutes(app: App, o: OwnerRoutes) {
  app.post(
    `${o.one}/verify`,
    {
      preHandler: o.write,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: "Check the credential against the provider's API",
        description:
          'Answers the metadata with isVerified and the outcome: verified, rejected (the provider refused it), unreachable (timeouts, 5xx, open circuit: the last verdict stands) or unsupported.',
        params: o.params,
        response: { 200: verifiedSchema, ...errorResponses },
      },
    },
    async (request) => {
      const r = await o.vault.verify(await o.ownerOf(request), o.credId(request), o.actor(request));
      return { ...r.credential, verification: r.verification };
    },
  );

  app.get(
    `${o.one}/audit`,
    {
      preHandler: o.read,
      schema: {
        tags: o.tags,
        security: o.security,
        summary: "The credential's audit trail, newest first",
        ...(o.trailView === 'client' && {
          description:
            'Acts of the client itself keep their key id and IP; an act by anyone else appears only as actorType operator (or system), without actorId or ip.',
        }),
        params: o.params,
        querystring: paginationQuery,
        response: { 200: page(auditEntry), ...errorResponses },
      },
    },
    async (request) =>
      o.vault.auditTrail(await o.ownerOf(request), o.credId(request), request.query, o.trailView),
  );
}

/** Client API (`/v1`): a client's own credentials. */
export async function credentialsRoutes(app: App, services: Services) {
  const read = requireClient(services, { scope: 'credentials:read' });
  const write = requireClient(services, { scope: 'credentials:write' });
  const security = [{ apiKey: [] }];

  app.get(
    '/credentials/summary',
    {
      preHandler: read,
      schema: {
        tags: ['credentials'],
        security,
        summary: 'Counts per provider: total, active, verified',
        response: { 200: summarySchema, ...errorResponses },
      },
    },
    async (request) => services.credentials.summary(request.client!.clientId),
  );

  credentialRoutes(app, services, {
    base: '/credentials',
    idParam: 'id',
    params: idParams,
    tags: ['credentials'],
    security,
    read,
    write,
    ownerOf: (request) => request.client!.clientId,
    actor: clientActor,
    trailView: 'client',
  });
}

/** Admin API (`/admin/v1`): platform credentials, clients' credentials, worker resolution. */
export async function adminCredentialsRoutes(app: App, services: Services) {
  const read = requireAdmin(services, 'credentials:read');
  const write = requireAdmin(services, 'credentials:write');
  const security = [{ bearer: [] }];

  resolveRoute(app, services, security);

  credentialRoutes(app, services, {
    base: '/credentials',
    idParam: 'id',
    params: idParams,
    tags: ['admin credentials'],
    security,
    read,
    write,
    ownerOf: () => PLATFORM_OWNER,
    actor: actorOf,
    trailView: 'operator',
  });

  clientSummaryRoute(app, services, read, security);

  credentialRoutes(app, services, {
    base: '/clients/:id/credentials',
    idParam: 'credentialId',
    params: clientCredParams,
    tags: ['admin credentials'],
    security,
    read,
    write,
    ownerOf: async (request) => {
      const clientId = (request.params as { id: string }).id;
      await services.clients.get(clientId); // unknown client: 404
      return clientId;
    },
    actor: actorOf,
    trailView: 'operator',
  });
}

/** For workers: a client's secret in clear (scope credentials:resolve), never cached by a proxy. */
function resolveRoute(app: App, services: Services, security: Array<Record<string, string[]>>) {
  app.post(
    '/credentials/resolve',
    {
      preHandler: requireAdmin(services, 'credentials:resolve'),
      schema: {
        tags: ['admin credentials'],
        security,
        summary:
          "For workers: the decrypted secret to use for a client and provider (audited as 'used')",
        description:
          "Follows the provider's policy: byok (the client's own), platform (the operator's), byok_then_platform. In development mode a missing credential falls back to the environment (GEMINI_API_KEY, …); production never does.",
        body: z.object({
          clientId: z.string().min(1).max(100),
          provider: z.enum(PROVIDERS),
          credentialId: z
            .string()
            .min(1)
            .max(100)
            .optional()
            .describe('a specific credential of the client'),
        }),
        response: {
          200: z.object({
            provider: z.enum(PROVIDERS),
            policy: z.enum(POLICIES),
            source: z.enum(['byok', 'platform', 'environment']),
            credentialId: z.string().nullable(),
            credentials: z.record(z.string(), z.string()).describe('the secret, in clear'),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return services.credentials.resolve(
        { ...request.body, requestId: request.id },
        actorOf(request),
      );
    },
  );
}

/** The operator's view of a client's credential counts. */
function clientSummaryRoute(
  app: App,
  services: Services,
  read: ReturnType<typeof requireAdmin>,
  security: Array<Record<string, string[]>>,
) {
  app.get(
    '/clients/:id/credentials/summary',
    {
      preHandler: read,
      schema: {
        tags: ['admin credentials'],
        security,
        summary: "A client's credentials, counted per provider",
        params: idParams,
        response: { 200: summarySchema, ...errorResponses },
      },
    },
    async (request) => {
      await services.clients.get(request.params.id);
      return services.credentials.summary(request.params.id);
    },
  );
}
