import { adminBudgetRoutes, clientBudgetRoutes } from './routes/budgets.ts';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type onRequestHookHandler,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { AppError, ERROR_STATUS, type ErrorCode } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { isStorageUnavailable } from '../store/store-errors.ts';
import { accessLogOf } from '../infra/logger.ts';
import { methodLabel } from '../infra/metrics.ts';
import type { Services } from '../services.ts';
import { registerAuth } from './auth.ts';
import { swaggerOptions } from './openapi.ts';
import { serializerCompiler } from './serializer.ts';
import {
  clientErrorHandler,
  frameworkErrors,
  registerGracefulClose,
  rejectNulCharacters,
} from './hardening.ts';
import { adminTokenRoutes } from './routes/admin-tokens.ts';
import { auditRoutes } from './routes/audit.ts';
import { clientApiRoutes } from './routes/client-api.ts';
import { adminKeyRoutes } from './routes/admin-keys.ts';
import { adminClientRoutes } from './routes/clients.ts';
import { adminCredentialsRoutes, credentialsRoutes } from './routes/credentials.ts';
import { registerClientAuth } from './client-auth.ts';
import { operationalRoutes } from './routes/operational.ts';
import { adminInvoiceRoutes, invoiceRoutes } from './routes/invoices.ts';
import { adminUsageRoutes, usageRoutes } from './routes/usage.ts';
import { usageIngestRoutes } from './routes/usage-ingest.ts';
import { registerMetering } from './metering.ts';
import { proxyRoutes } from './routes/proxy.ts';
import { adminLeakRoutes, leakClientRoutes, leakPartnerRoutes } from './routes/leaks.ts';
import { dashboardStaticRoutes } from './routes/dashboard-static.ts';
import { dashboardSessionRoutes } from './routes/dashboard-session.ts';
import { adminWebhookRoutes, webhookRoutes } from './routes/webhooks.ts';

export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export const BODY_LIMIT = 1024 * 1024;

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
};

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  extra: { details?: unknown; headers?: Record<string, string> } = {},
) {
  if (extra.headers) reply.headers(extra.headers);
  const body: { error: Record<string, unknown> } = {
    error: { code, message, requestId: reply.request.id },
  };
  if (extra.details !== undefined) body.error.details = extra.details;
  return reply
    .code(ERROR_STATUS[code])
    .type('application/json; charset=utf-8')
    .serializer(JSON.stringify)
    .send(body);
}

function zodIssues(err: FastifyError) {
  return (err.validation ?? []).map((v) => ({
    path:
      ((v.params as { issue?: { path?: unknown[] } })?.issue?.path ?? []).map(String).join('.') ||
      v.instancePath?.replace(/^\//, '').replace(/\//g, '.') ||
      '',
    message: v.message ?? 'invalid',
  }));
}

function handleError(
  this: FastifyInstance,
  err: FastifyError | AppError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (err instanceof AppError) {
    return sendError(reply, err.code, err.message, { details: err.context, headers: err.headers });
  }
  const ferr = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(ferr) || ferr.validation) {
    const issues = zodIssues(ferr);
    const where = ferr.validationContext ?? 'request';
    const first = issues[0];
    const message = first
      ? `invalid ${where}: ${first.path ? `${first.path}: ` : ''}${first.message}`
      : `invalid ${where}`;
    return sendError(reply, 'validation_failed', message, { details: issues });
  }
  if (ferr.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
    return sendError(reply, 'invalid_json', 'request body is not valid JSON');
  }
  if (ferr.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return sendError(reply, 'payload_too_large', `request body exceeds ${BODY_LIMIT} bytes`);
  }
  const status = ferr.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = STATUS_CODES[status] ?? 'bad_request';
    // Fastify's own 4xx messages say what was wrong and never carry request data.
    return sendError(reply, code, ferr.message || code.replace(/_/g, ' '));
  }
  if (isStorageUnavailable(err)) {
    request.log.error({ err, requestId: request.id }, 'storage unavailable');
    return sendError(reply, 'service_unavailable', 'storage is unavailable, retry later', {
      headers: { 'retry-after': '1' },
    });
  }
  request.log.error({ err, requestId: request.id }, 'unhandled error');
  return sendError(reply, 'internal_error', 'internal error');
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The matched route's template (`/v1/keys/:id`); null when no route matched. */
    routeUrl: string | null;
    /** `METHOD /route-template`, as metering, prices and rate limits name endpoints. */
    endpoint: string | null;
  }
}

/**
 * Gives every route a first onRequest hook that names the request's route template and
 * endpoint. Fastify's `request.routeOptions` builds a fresh object on every read, and the hot
 * path needs these names three times a request (rate limit, metering, access line).
 */
function nameEndpoints(app: App): void {
  app.decorateRequest('routeUrl', null);
  app.decorateRequest('endpoint', null);
  app.addHook('onRoute', (route) => {
    const url = route.url;
    const names = new Map<string, string>();
    const name: onRequestHookHandler = (request, _reply, done) => {
      let endpoint = names.get(request.method);
      if (endpoint === undefined) {
        endpoint = `${request.method} ${url}`;
        names.set(request.method, endpoint);
      }
      request.routeUrl = url;
      request.endpoint = endpoint;
      done();
    };
    const own = route.onRequest;
    route.onRequest = own ? [name, ...(Array.isArray(own) ? own : [own])] : [name];
  });
}

export interface BuildAppOptions {
  services: Services;
  /** Extra route plugins (later modules register theirs here via `routes`). */
  docs?: boolean;
}

export async function buildApp({ services, docs = true }: BuildAppOptions): Promise<App> {
  const app = createFastify(services);
  registerHooks(app, services);
  await app.register(fastifySwagger, swaggerOptions());
  if (docs) await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  registerAuth(app);
  registerClientAuth(app);
  registerMetering(app, services);
  for (const [routes, prefix] of ROUTES) {
    await app.register(async (scope) => routes(scope as App, services), prefix ? { prefix } : {});
  }

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(async (scope) => dashboardStaticRoutes(scope as App, services));
  return app;
}

/** Every route group, in registration order, with its prefix. */
const ROUTES: Array<[(app: App, services: Services) => unknown, string?]> = [
  [operationalRoutes],
  [adminTokenRoutes, '/admin/v1'],
  [auditRoutes, '/admin/v1'],
  [adminClientRoutes, '/admin/v1'],
  [adminKeyRoutes, '/admin/v1'],
  [clientApiRoutes, '/v1'],
  [clientBudgetRoutes, '/v1'],
  [adminBudgetRoutes, '/admin/v1'],
  [credentialsRoutes, '/v1'],
  [adminCredentialsRoutes, '/admin/v1'],
  [usageRoutes, '/v1'],
  [adminUsageRoutes, '/admin/v1'],
  [usageIngestRoutes, '/admin/v1'],
  [invoiceRoutes, '/v1'],
  [adminInvoiceRoutes, '/admin/v1'],
  [webhookRoutes, '/v1'],
  [adminWebhookRoutes, '/admin/v1'],
  [proxyRoutes, '/v1'],
  [leakPartnerRoutes, '/v1'],
  [leakClientRoutes, '/v1'],
  [adminLeakRoutes, '/admin/v1'],
  [dashboardSessionRoutes, '/dashboard/api'],
];

function createFastify(services: Services): App {
  const { config, logger } = services;
  const app = Fastify({
    loggerInstance: logger,
    // One line per request, written by our onResponse hook (route, status, duration).
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    bodyLimit: BODY_LIMIT,
    trustProxy: config.trustProxy,
    genReqId: () => newId('req'),
    // No child logger per request (it costs ~10% of a small request's throughput): request.log
    // is the app logger, and the lines we write about a request carry its requestId themselves.
    childLoggerFactory: (parent) => parent,
    // Our own closing answer (503 in the envelope, Connection: close): see registerGracefulClose.
    return503OnClosing: false,
    forceCloseConnections: false,
    routerOptions: { maxParamLength: 500 },
    // A client that trickles its request in cannot hold a connection forever.
    requestTimeout: 30_000,
    // Malformed requests and URLs answer in the error envelope too (see hardening.ts).
    frameworkErrors,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>() as unknown as App;

  // JSON bodies only (the proxy and the leak partners' routes take theirs raw, in their own
  // scopes): a text/plain body is 415 unsupported_media_type, not a string the schema refuses.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 'not_found', `no route for ${request.method} ${request.url.split('?')[0]}`),
  );
  return app;
}

/** The hooks every request runs: names, hardening headers, graceful close, metrics and access line. */
function registerHooks(app: App, services: Services): void {
  const { logger, metrics } = services;
  nameEndpoints(app);

  // Hooks that run on every request are callback style: no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('x-request-id', request.id);
    done();
  });

  const accessLog = accessLogOf(logger);
  registerGracefulClose(app);
  app.addHook('preValidation', rejectNulCharacters);

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeUrl ?? 'unmatched';
    const status = reply.statusCode;
    const durationMs = reply.elapsedTime;
    // A route's methods are few; an unmatched request could carry any token as its method.
    const method = request.routeUrl ? request.method : methodLabel(request.method);
    metrics.httpRequests.inc({ method, route, status: String(status) });
    metrics.httpDuration.observe({ method, route }, durationMs / 1000);
    const q = request.url.indexOf('?');
    accessLog({
      requestId: request.id,
      method: request.method,
      route,
      path: q < 0 ? request.url : request.url.slice(0, q),
      status,
      durationMs,
    });
    done();
  });
}
