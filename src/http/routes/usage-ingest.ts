import { z } from 'zod';
import type { ApiKey } from '../../keys/index.ts';
import { AppError } from '../../lib/errors.ts';
import type { Services } from '../../services.ts';
import type { App } from '../app.ts';
import { requireAdmin } from '../auth.ts';
import { errorResponses } from '../schemas.ts';

/** Events per request; a larger batch is split by the sender (the SDK sends at most this). */
export const MAX_INGEST_EVENTS = 1000;

const eventSchema = z
  .object({
    requestId: z
      .string()
      .min(1)
      .max(200)
      .describe('globally unique (a UUID): a repeated id is counted once, so retries are safe'),
    clientId: z.string().min(1).max(100),
    keyId: z.string().min(1).max(100).describe('must be a key of clientId'),
    endpoint: z
      .string()
      .min(1)
      .max(300)
      .describe('METHOD /route-template, as the price book names it')
      .meta({ example: 'POST /api/video/analyze' }),
    method: z.string().min(1).max(16),
    status: z.number().int().min(100).max(599),
    durationMs: z.number().min(0).max(86_400_000).optional(),
    environment: z
      .enum(['live', 'test'])
      .optional()
      .describe("ignored: the key's own environment decides (test calls are never priced)"),
    reservationId: z
      .string()
      .max(100)
      .optional()
      .describe(
        "the reservationId POST /admin/v1/verify answered for this call: settled once, at this event's price (a 5xx is refunded); an unknown, settled or another key's id settles nothing",
      ),
  })
  .strict();

/**
 * Admin API: a service behind Keyplane (the SDK's middleware with `report`) meters calls to
 * its own endpoints. Each event is priced by the price book exactly like a call to the client
 * API, and lands in the same usage and invoices.
 */
export async function usageIngestRoutes(app: App, services: Services) {
  app.post(
    '/usage/events',
    {
      preHandler: requireAdmin(services, 'usage:write'),
      schema: {
        tags: ['usage'],
        summary: "Record calls to a service's own endpoints (metering from behind Keyplane)",
        description:
          "Each event's keyId must belong to its clientId; an event that does not (or names a deleted key) is skipped and listed in `rejected` as not_found, exactly like a missing key. The others are queued and flushed in batches like every usage event.",
        security: [{ bearer: [] }],
        body: z.object({ events: z.array(eventSchema).min(1).max(MAX_INGEST_EVENTS) }).strict(),
        response: {
          202: z.object({
            recorded: z.number().int(),
            rejected: z.array(
              z.object({ index: z.number().int(), requestId: z.string(), code: z.string() }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { accepted, rejected } = await withKeys(services, request.body.events);
      // Each event naming its call's reservation settles it in the batch that meters it.
      const ledgers = await services.budgets.settlementsOf(
        accepted.map(({ e, key }) => ({
          clientId: e.clientId,
          keyId: e.keyId,
          reservationId: e.reservationId,
          endpoint: e.endpoint,
          status: e.status,
          environment: key.environment,
        })),
      );
      accepted.forEach(({ e, key }, i) =>
        services.usage.record({
          requestId: e.requestId,
          clientId: e.clientId,
          keyId: e.keyId,
          endpoint: e.endpoint,
          method: e.method.toUpperCase(),
          status: e.status,
          environment: key.environment,
          durationMs: e.durationMs ?? 0,
          external: true,
          ledger: ledgers[i],
        }),
      );
      return reply.code(202).send({ recorded: accepted.length, rejected });
    },
  );
}

type IngestEvent = z.output<typeof eventSchema>;

/**
 * The events whose key belongs to their client, with that key; the others rejected as
 * not_found. One lookup per (client, key) pair. Another client's key answers not_found exactly
 * like a missing one, so a batch cannot probe key ids.
 */
async function withKeys(services: Services, events: IngestEvent[]) {
  const keys = new Map<string, ApiKey | null>();
  const accepted: Array<{ e: IngestEvent; key: ApiKey }> = [];
  const rejected: Array<{ index: number; requestId: string; code: string }> = [];
  for (const [index, e] of events.entries()) {
    const pair = `${e.clientId}\u0000${e.keyId}`;
    if (!keys.has(pair)) {
      keys.set(pair, await services.keys.get(e.clientId, e.keyId).catch(notFoundAsNull));
    }
    const key = keys.get(pair);
    if (key) accepted.push({ e, key });
    else rejected.push({ index, requestId: e.requestId, code: 'not_found' });
  }
  return { accepted, rejected };
}

function notFoundAsNull(err: unknown): null {
  if (err instanceof AppError && err.code === 'not_found') return null;
  throw err;
}
