import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, meter, verifierOf, type MiddlewareOptions } from './middleware.ts';
import { keyFromHeaders, type KeyplaneContext } from './verifier.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the Keyplane preHandler once the key passed. */
    keyplane?: KeyplaneContext;
  }
}

export type { KeyplaneContext, MiddlewareOptions };

/**
 * A Fastify preHandler that verifies the client key (`X-API-Key` or `Authorization: Bearer`)
 * through Keyplane and puts `{client, key}` on `request.keyplane`. Refusals answer in Keyplane's
 * error envelope: 401 / 403 / 429 (with `Retry-After` and `RateLimit-*`), 503 when Keyplane is
 * unreachable. Only types come from fastify: nothing is imported at runtime.
 *
 * @example
 *   import Fastify from 'fastify';
 *   import { KeyVerifier, UsageReporter } from '@keyplane/sdk';
 *   import { keyplaneFastify } from '@keyplane/sdk/fastify';
 *
 *   const verifier = new KeyVerifier({ baseUrl: process.env.KEYPLANE_URL, adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const report = new UsageReporter({ baseUrl: process.env.KEYPLANE_URL, adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const app = Fastify();
 *   app.post('/api/video/analyze', { preHandler: keyplaneFastify({ verifier, report, scopes: ['video'] }) },
 *     async (request) => ({ client: request.keyplane!.client.id }));
 */
export function keyplaneFastify(options: MiddlewareOptions) {
  const verifier = verifierOf(options);
  const scopes = options.scopes?.length ? options.scopes : undefined;
  return async function keyplaneAuth(request: FastifyRequest, reply: FastifyReply) {
    const startedAt = performance.now();
    const endpoint =
      options.endpoint ?? `${request.method} ${request.routeOptions.url ?? request.url}`;
    const check = await verifier.check({
      key: keyFromHeaders((name) => request.headers[name]),
      scopes,
      ip: request.ip,
      endpoint,
    });
    if (!check.ok) {
      const { denial } = check;
      return reply
        .code(denial.status)
        .headers(denial.headers)
        .type('application/json; charset=utf-8')
        .send(errorBody(denial.code, denial.message, String(request.id)));
    }
    reply.headers(check.headers);
    request.keyplane = check.context;
    if (options.report) {
      const report = options.report;
      reply.raw.once('finish', () =>
        meter(report, check.context, {
          endpoint,
          method: request.method,
          status: reply.statusCode,
          startedAt,
        }),
      );
    }
  };
}
