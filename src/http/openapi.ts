import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { adminTokenSchema } from './routes/admin-tokens.ts';
import { auditEntrySchema } from './routes/audit.ts';
import { clientSchema } from './routes/clients.ts';
import { credentialSchema } from './routes/credentials.ts';
import { invoiceSchema, lineItemSchema } from './routes/invoices.ts';
import { apiKeySchema, createdKeySchema, keyList, rolledKeySchema } from './routes/key-schemas.ts';
import { rateLimitSchema } from '../lib/rate-limit-setting.ts';
import { usageSummarySchema } from './routes/usage.ts';
import { webhookEndpointSchema } from './routes/webhooks.ts';
import { errorEnvelope } from './schemas.ts';
import { OPERATION_IDS, TAGS } from './openapi-names.ts';
import { webhookDocs } from './webhook-docs.ts';

/**
 * The served OpenAPI document (`GET /openapi.json`): fastify-swagger builds it from each
 * route's zod schemas; this module adds what third-party tools need from it (SDK generators,
 * linters, Swagger UI, fuzzers): an operationId and a described tag on every operation, the
 * security every route accepts, 413/415 on every body, the headers every answer carries,
 * shared components for the repeated shapes, and the proxy's path as a plain parameter.
 */

/** Shapes that recur across operations become `#/components/schemas/<id>`. */
const COMPONENTS: Array<[z.ZodType, string]> = [
  [errorEnvelope, 'Error'],
  [apiKeySchema, 'ApiKey'],
  [keyList, 'ApiKeyPage'],
  [createdKeySchema, 'CreatedKey'],
  [rolledKeySchema, 'RolledKey'],
  [rateLimitSchema, 'RateLimit'],
  [clientSchema, 'Client'],
  [adminTokenSchema, 'AdminToken'],
  [auditEntrySchema, 'AuditEntry'],
  [credentialSchema, 'Credential'],
  [invoiceSchema, 'Invoice'],
  [lineItemSchema, 'InvoiceLineItem'],
  [usageSummarySchema, 'UsageSummary'],
  [webhookEndpointSchema, 'WebhookEndpoint'],
];
for (const [schema, id] of COMPONENTS) {
  // `.describe()` already put some in the registry: they keep their description.
  const meta = z.globalRegistry.get(schema);
  if (meta?.id) continue;
  z.globalRegistry.remove(schema);
  z.globalRegistry.add(schema, { ...meta, id });
}

type Json = Record<string, unknown>;
type Operation = {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<Json & { name: string; in: string }>;
  requestBody?: Json;
  responses?: Record<string, Json & { headers?: Json }>;
  description?: string;
};
type Document = Json & {
  paths: Record<string, Record<string, Operation>>;
  components: Json & { schemas?: Json; headers?: Json; responses?: Json };
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];
const PROXY_URL = '/v1/proxy/{provider}/{*}';
const PROXY_DOC_URL = '/v1/proxy/{provider}/{path}';

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ref('schemas', 'Error') } },
});

const HEADERS: Json = {
  'X-Request-Id': {
    description: 'The request id (`req_…`), also in every error envelope and log line',
    schema: { type: 'string' },
  },
  'RateLimit-Limit': {
    description: "Calls allowed in the key's rate-limit window",
    schema: { type: 'integer' },
  },
  'RateLimit-Remaining': {
    description: 'Calls left in the current window',
    schema: { type: 'integer' },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the window resets',
    schema: { type: 'integer' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    schema: { type: 'integer' },
  },
};

const SHARED_RESPONSES: Json = {
  PayloadTooLarge: errorResponse('The body is over the size limit (`payload_too_large`)'),
  UnsupportedMediaType: errorResponse(
    'The body is not `application/json` (`unsupported_media_type`)',
  ),
};

const PROXY_ERRORS: Record<string, string> = {
  400: 'not_supported (aws, gcp, azure, generic) or bad_request (a path that would leave the base URL)',
  401: 'missing, unknown, revoked or expired API key',
  403: 'the key lacks a scope, or the client is suspended',
  404: 'unknown provider',
  413: 'body over the proxy limit',
  424: 'no_credential: the vault has no credential for this client and provider',
  429: 'rate limited or out of credits',
  502: "bad_gateway: the provider's API could not be reached",
  504: "upstream_timeout: the provider's API did not answer in time",
};

/** Per route, while fastify-swagger assembles the document: the security each route accepts. */
export const transform: typeof jsonSchemaTransform = (input) => {
  const out = jsonSchemaTransform(input);
  const url = out.url;
  if (!url.startsWith('/admin/v1/') && !url.startsWith('/v1/')) return out;
  const schema = out.schema as { security?: Array<Record<string, string[]>> } | undefined;
  if (!schema) return out;
  return { ...out, schema: { ...schema, security: completeSecurity(url, schema.security ?? []) } };
};

const PARTNER_SCHEMES = ['githubSignature', 'gitlabToken'];

/**
 * Every /admin/v1 operation takes an admin token (bearer); every /v1 operation that takes an
 * API key in X-API-Key also takes it as `Authorization: Bearer`; every authenticated one also
 * takes the dashboard's session cookie, as requireAdmin and requireClient do.
 */
function completeSecurity(
  url: string,
  security: Array<Record<string, string[]>>,
): Array<Record<string, string[]>> {
  let out = security;
  const has = (name: string) => out.some((s) => name in s);
  if (url.startsWith('/admin/v1/') && !has('bearer')) out = [{ bearer: [] }, ...out];
  if (url.startsWith('/v1/') && has('apiKey') && !has('bearer')) out = [...out, { bearer: [] }];
  if (!out.length || has('dashboardSession')) return out;
  // A secret scanning partner's signature or shared secret: no dashboard session stands in.
  if (out.some((s) => PARTNER_SCHEMES.some((name) => name in s))) return out;
  return [...out, { dashboardSession: [] }];
}

/** The whole document, once built: names, shared parts and the proxy's path parameter. */
export const transformObject: typeof jsonSchemaTransformObject = (input) => {
  const doc = jsonSchemaTransformObject(input) as unknown as Document;
  doc.tags = TAGS;
  doc.components.headers = { ...(doc.components.headers as Json), ...HEADERS };
  doc.components.responses = { ...(doc.components.responses as Json), ...SHARED_RESPONSES };
  const proxy = doc.paths[PROXY_URL];
  if (proxy) {
    delete doc.paths[PROXY_URL];
    doc.paths[PROXY_DOC_URL] = proxy;
  }
  for (const [url, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      // A route with several methods shares one operation object among them.
      const op = (item[method] = structuredClone(item[method]));
      op.operationId ??= OPERATION_IDS[`${method.toUpperCase()} ${url}`];
      op.security ??= publicSecurity(url, method);
      if (url === PROXY_DOC_URL) documentProxy(op);
      documentResponses(url, op);
    }
  }
  dropUnusedSchemas(doc);
  return doc as unknown as ReturnType<typeof jsonSchemaTransformObject>;
};

/** Each registered shape yields an input and an output component: keep those referenced. */
function dropUnusedSchemas(doc: Document): void {
  const schemas = doc.components.schemas ?? {};
  for (let changed = true; changed;) {
    changed = false;
    const text = JSON.stringify({ ...doc, components: { ...doc.components, schemas: {} } });
    const inSchemas = Object.entries(schemas).map(([name, s]) => [name, JSON.stringify(s)]);
    for (const name of Object.keys(schemas)) {
      const refText = `"#/components/schemas/${name}"`;
      const used =
        text.includes(refText) ||
        inSchemas.some(([other, s]) => other !== name && s!.includes(refText));
      if (!used) {
        delete schemas[name];
        changed = true;
      }
    }
  }
}

/**
 * The security of a route that declares none: the dashboard's session routes (but signing in)
 * take the session cookie; the rest (health, readiness, sign-in) take no credential.
 */
function publicSecurity(url: string, method: string): Array<Record<string, string[]>> {
  return url.startsWith('/dashboard/api/') && method !== 'post' ? [{ dashboardSession: [] }] : [];
}

/** The headers and the framework's own errors every operation's answers carry. */
function documentResponses(url: string, op: Operation): void {
  const responses = (op.responses ??= {});
  if (op.requestBody) {
    responses['413'] ??= ref('responses', 'PayloadTooLarge');
    responses['415'] ??= ref('responses', 'UnsupportedMediaType');
  }
  const byKey = (op.security ?? []).some((s) => 'apiKey' in s);
  for (const [status, response] of Object.entries(responses)) {
    if ('$ref' in response) continue;
    const headers: Json = { 'X-Request-Id': ref('headers', 'X-Request-Id') };
    if (byKey && url.startsWith('/v1/') && (status.startsWith('2') || status === '429')) {
      for (const name of ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'])
        headers[name] = ref('headers', name);
    }
    if (status === '429' || status === '503')
      headers['Retry-After'] = ref('headers', 'Retry-After');
    response.headers = { ...headers, ...response.headers };
  }
}

/**
 * The proxy's wildcard, documented as the path parameter `path`: it may contain `/`, sent
 * as is or percent-encoded (`%2F`) as generated clients do; either way the path checks run on
 * the decoded path (see src/proxy/proxy-fns.ts).
 */
function documentProxy(op: Operation): void {
  op.parameters = (op.parameters ?? []).map((p) =>
    p.in === 'path' && p.name === '*'
      ? {
          name: 'path',
          in: 'path',
          required: true,
          description:
            "Path below the provider's base URL, e.g. `v1beta/models`. It may contain `/`, as is or percent-encoded (`v1beta%2Fmodels`, as generated clients send it); the path is checked after decoding (no dot segments, no empty segments, no scheme).",
          schema: { type: 'string', maxLength: 2000 },
        }
      : p,
  );
  const responses: Record<string, Json> = {
    200: { description: "The provider's answer: its status, headers and body, as they are" },
    default: { description: 'Any other status the provider answers with, passed through' },
  };
  for (const [status, description] of Object.entries(PROXY_ERRORS))
    responses[status] = errorResponse(description);
  op.responses = responses;
}

export function swaggerOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keyplane API',
        description:
          'Multi-tenant API keys, rate limits, metering, billing and a credentials vault.',
        version: '0.1.0',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: '/', description: 'This Keyplane server' }],
      components: { securitySchemes: SECURITY_SCHEMES },
      webhooks: webhookDocs(),
    },
    transform,
    transformObject,
  };
}

const SECURITY_SCHEMES = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'X-API-Key',
    description: 'A client API key (also accepted as `Authorization: Bearer <key>` on /v1).',
  },
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'An admin token on /admin/v1 and /metrics; a client API key on /v1.',
  },
  githubSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Github-Public-Key-Signature',
    description:
      'GitHub secret scanning: an ECDSA P-256 signature of the raw body by the key named in Github-Public-Key-Identifier (POST /v1/leaks/github only).',
  },
  gitlabToken: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description:
      "GitLab's token revocation API: the shared secret leaks.gitlab.token (/v1/leaks/gitlab only).",
  },
  dashboardSession: {
    type: 'apiKey',
    in: 'cookie',
    name: 'kp_session',
    description:
      "The web dashboard's session (POST /dashboard/api/session): accepted on /admin/v1 (operator session) and /v1 (client session) in place of the header credential, only with the header X-Keyplane-Dashboard: 1.",
  },
} as const;
