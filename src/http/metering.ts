import type { Services } from '../services.ts';
import type { App } from './app.ts';
import { endpointOf } from './client-auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The endpoint a call is metered and priced as, when the route template is not specific
     * enough (the proxy sets `POST /v1/proxy/gemini/*`). Default: `METHOD /route-template`.
     */
    meterEndpoint: string | null;
  }
}

/**
 * Every authenticated client call (request.client set by requireClient) becomes one usage
 * event when its response is sent. Recording only queues it in memory: the response never
 * waits for storage.
 */
export function registerMetering(app: App, services: Services): void {
  app.decorateRequest('meterEndpoint', null);
  app.addHook('onResponse', (request, reply, done) => {
    const client = request.client;
    if (!client) return done();
    // The budget reservation made before the call, settled with its real status: a priced
    // call's settlement commits with the usage batch that meters it.
    const hold = request.verification?.budgetHold;
    const ledger = hold ? services.budgets.gate.settle(hold, reply.statusCode) : undefined;
    services.usage.record({
      requestId: request.id,
      clientId: client.clientId,
      keyId: client.keyId,
      endpoint: endpointOf(request),
      method: request.method,
      status: reply.statusCode,
      environment: client.environment,
      durationMs: reply.elapsedTime,
      ledger,
    });
    done();
  });
}
