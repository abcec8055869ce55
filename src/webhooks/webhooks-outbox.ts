import type { Kysely } from 'kysely';
import { newId } from '../lib/ids.ts';
import type { Database } from '../store/database.ts';
import { eventData } from './webhooks-events.ts';
import { wants } from './webhooks-fns.ts';
import type { WebhooksContext } from './webhooks-context.ts';
import { PAYLOAD_VERSION, type WebhookEventInput } from './webhooks-types.ts';

/** `emit`'s signature: other modules call it inside the transaction of their state change. */
export type EmitEvent = (trx: Kysely<Database>, event: WebhookEventInput) => Promise<void>;

/**
 * An event with no state change of its own to commit with, in its own transaction. False when
 * its dedupe key was used already (nothing written).
 */
export type EmitAlone = (event: WebhookEventInput) => Promise<boolean>;

/** The outbox port: events are written with the state change that caused them. */
export function createOutbox(ctx: WebhooksContext): { emit: EmitEvent; emitAlone: EmitAlone } {
  return {
    emit: async (trx, event) => {
      await write(ctx, trx, event);
    },
    emitAlone: (event) => ctx.webhooksStore.transaction((trx) => write(ctx, trx, event)),
  };
}

/**
 * Writes the message and one delivery per subscribed endpoint, in the caller's transaction;
 * false when the event's dedupe key was used already.
 */
async function write(
  ctx: WebhooksContext,
  trx: Kysely<Database>,
  event: WebhookEventInput,
): Promise<boolean> {
  const { webhooksStore: store } = ctx;
  const now = ctx.clock.now();
  const iso = now.toISOString();
  const id = newId('webhookMessage', now.getTime());
  const payload = JSON.stringify({
    type: event.type,
    version: PAYLOAD_VERSION,
    timestamp: iso,
    data: eventData(event.type, event.data),
  });
  // The message row first: on SQLite a transaction whose first statement is a read fails with
  // SQLITE_BUSY (not waited on) when another connection writes before its first write.
  const written = await store.insertMessage(
    trx,
    {
      id,
      event_type: event.type,
      client_id: event.clientId,
      payload,
      created_at: iso,
      dedupe_key: event.dedupeKey ?? null,
    },
    [],
  );
  if (!written) return false;
  const endpoints = (await store.subscribers(trx, event.clientId)).filter((e) =>
    wants(JSON.parse(e.event_types) as string[], event.type),
  );
  await store.insertDeliveries(
    endpoints.map((e) => pendingDelivery(id, e.id, now)),
    trx,
  );
  if (endpoints.length) ctx.onEmit?.();
  return true;
}

/** A delivery of a message to an endpoint, due now. */
export function pendingDelivery(messageId: string, endpointId: string, now: Date) {
  const iso = now.toISOString();
  return {
    id: newId('webhookDelivery', now.getTime()),
    message_id: messageId,
    endpoint_id: endpointId,
    status: 'pending' as const,
    attempts: 0,
    next_attempt_at: iso,
    claimed_until: null,
    claimed_by: null,
    created_at: iso,
    finished_at: null,
  };
}
