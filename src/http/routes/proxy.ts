import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../../audit/index.ts';
import { AppError } from '../../lib/errors.ts';
import { decodeSlashes, splitProxyUrl } from '../../proxy/index.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { requireClient } from '../client-auth.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

function clientActor(request: FastifyRequest): Actor {
  return { type: 'client', id: request.client!.keyId, ip: request.ip };
}

/**
 * `ANY /v1/proxy/{provider}/{path}` (SPEC §3): the call goes to the provider's upstream with
 * the resolved credential injected, and is metered as `METHOD /v1/proxy/{provider}/*`. Bodies
 * are not parsed here: they stream through (up to the proxy's own limit).
 */
export async function proxyRoutes(app: App, services: Services) {
  // This plugin's scope only: every body stays an unread stream for the proxy to forward.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.route({
    method: [...METHODS],
    url: '/proxy/:provider/*',
    exposeHeadRoute: false,
    // Named before the key check, so the metered (and priced) endpoint is the provider's.
    onRequest: async (request) => {
      const endpoint = services.proxy.endpointOf(request.method, request.params.provider);
      if (endpoint) request.meterEndpoint = endpoint;
    },
    preHandler: requireClient(services),
    schema: {
      tags: ['proxy'],
      security: [{ apiKey: [] }, { bearer: [] }],
      summary: "Forward a call to a provider's API with the resolved credential injected",
      description:
        "The request (method, path below the provider's base URL, query, body, headers other than hop-by-hop ones, the client's own X-API-Key/Authorization/Cookie) goes to `providers.<provider>.baseUrl`, with the credential the vault resolves for the client under the provider's policy (byok, platform, byok_then_platform). The provider's status, headers and body come back as they are, except that the injected secret is masked wherever it appears. Errors of the proxy itself: 404 unknown provider, 400 not_supported (aws, gcp, azure, generic), 400 bad_request (a path that would leave the base URL), 413 (body over the proxy limit), 424 no_credential, 502 bad_gateway, 504 upstream_timeout. Metered and priced as `METHOD /v1/proxy/{provider}/*`.",
      params: z.object({
        provider: z.string().describe('gemini, openai, anthropic, exa, vultr, copilotkit'),
        '*': z.string().describe('path below the provider base URL, e.g. v1beta/models'),
      }),
    },
    handler: async (request, reply) => {
      const provider = request.params.provider;
      const parts = splitProxyUrl(request.raw.url ?? request.url);
      if (!parts) throw new AppError('bad_request', 'proxy path refused: not a proxy URL');

      const abort = new AbortController();
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      const answer = await services.proxy.forward({
        clientId: request.client!.clientId,
        provider,
        method: request.method,
        path: decodeSlashes(parts.path),
        query: parts.query,
        headers: request.headers,
        body: request.raw,
        signal: abort.signal,
        actor: clientActor(request),
        requestId: request.id,
      });
      // Keyplane's own X-Request-Id and RateLimit-* stay; everything else is the provider's.
      for (const [name, value] of Object.entries(answer.headers)) {
        if (name.startsWith('ratelimit-') && reply.hasHeader(name)) continue;
        reply.header(name, value);
      }
      return reply.code(answer.status).send(answer.body);
    },
  });
}
