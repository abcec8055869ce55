import { z } from 'zod';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { requireAdmin } from '../auth.ts';
import { errorEnvelope } from '../schemas.ts';

/** Liveness, readiness and metrics: one small function per route. */
export async function operationalRoutes(app: App, services: Services) {
  healthRoute(app);
  readinessRoute(app, services);
  metricsRoute(app, services);
}

function healthRoute(app: App) {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operational'],
        summary: 'Liveness: the process is up',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
}

const readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.record(z.string(), z.string()),
});

function readinessRoute(app: App, services: Services) {
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operational'],
        summary: 'Readiness: storage (and Redis when configured) answer',
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const { ready, checks } = await runChecks(services.readiness);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
    },
  );
}

/** Every readiness check, each given 2 s; a "degraded…" failure keeps the node ready. */
async function runChecks(readiness: Services['readiness']) {
  const checks: Record<string, string> = {};
  let ready = true;
  await Promise.all(
    Object.entries(readiness).map(async ([name, check]) => {
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
        ]);
        checks[name] = 'ok';
      } catch (err) {
        const msg = (err as Error).message ?? 'down';
        // "degraded" checks keep the node serving (e.g. the local rate limiter while Redis is away).
        if (msg.startsWith('degraded')) checks[name] = msg;
        else {
          ready = false;
          checks[name] = 'down';
        }
      }
    }),
  );
  return { ready, checks };
}

function metricsRoute(app: App, services: Services) {
  const metricsAuth = services.config.metricsPublic ? [] : [requireAdmin(services, 'metrics:read')];
  app.get(
    '/metrics',
    {
      preHandler: metricsAuth,
      schema: {
        tags: ['operational'],
        summary: 'Prometheus metrics (admin token unless KEYPLANE_METRICS_PUBLIC=true)',
        security: services.config.metricsPublic ? [] : [{ bearer: [] }],
        response: {
          200: {
            description: 'Prometheus text format (version 0.0.4)',
            content: { 'text/plain': { schema: z.string() } },
          },
          401: errorEnvelope,
          403: errorEnvelope,
        },
      },
    },
    async (_request, reply) => {
      const text = await services.metrics.registry.metrics();
      return reply.type(services.metrics.registry.contentType).send(text);
    },
  );
}
