import type { Kysely } from 'kysely';
import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { Database } from '../store/database.ts';
import { eventData } from './webhooks-events.ts';
import { checkEndpointUrl, newSigningSecret, sealSecret, wants } from './webhooks-fns.ts';
import type { Owner, WebhooksStore } from './webhooks-store.ts';
import {
  EVENT_TYPES,
  PAYLOAD_VERSION,
  type WebhookAttempt,
  type WebhookEndpoint,
  type WebhookEndpointsTable,
  type WebhookEventInput,
  type WebhookMessage,
  type WebhookMessagesTable,
} from './webhooks-types.ts';
import { byId, readPage } from '../lib/page.ts';

export interface WebhooksServiceDeps {
  webhooksStore: WebhooksStore;
  keyring: Keyring;
  clock: Clock;
  audit: AuditService;
  /** Development mode: http and private addresses allowed. */
  allowPrivate: boolean;
  /** Told after each emit (the dispatcher's wake), so a new message goes out at once. */
  onEmit?: () => void;
}

export interface EndpointInput {
  url: string;
  description?: string;
  eventTypes?: string[];
  enabled?: boolean;
}

/** How long the old secret keeps signing after a roll, unless the caller says otherwise. */
export const DEFAULT_ROLL_GRACE_SECONDS = 24 * 3600;

export function toEndpoint(r: WebhookEndpointsTable): WebhookEndpoint {
  return {
    id: r.id,
    clientId: r.client_id,
    url: r.url,
    description: r.description,
    eventTypes: JSON.parse(r.event_types) as string[],
    enabled: r.enabled === 1,
    disabledReason: r.disabled_reason,
    failingSince: r.failing_since,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function checkEventTypes(types: string[] | undefined): string {
  const list = [...new Set(types ?? [])];
  const unknown = list.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length)
    throw new AppError('validation_failed', `unknown event type(s): ${unknown.join(', ')}`, {
      context: { allowed: EVENT_TYPES },
    });
  return JSON.stringify(list);
}

/** `emit`'s signature: other modules call it inside the transaction of their state change. */
export type EmitEvent = (trx: Kysely<Database>, event: WebhookEventInput) => Promise<void>;

/**
 * An event with no state change of its own to commit with, in its own transaction. False when
 * its dedupe key was used already (nothing written).
 */
export type EmitAlone = (event: WebhookEventInput) => Promise<boolean>;

/**
 * Webhook endpoints (the operator's and each client's), the outbox port `emit`, and the
 * message log. Delivery is the dispatcher's (webhooks-dispatcher.ts).
 */
export function createWebhooksService(deps: WebhooksServiceDeps) {
  const { webhooksStore: store, keyring, clock, audit, allowPrivate } = deps;

  async function mustFind(owner: Owner, id: string): Promise<WebhookEndpointsTable> {
    const row = await store.findEndpoint(owner, id);
    if (!row) throw new AppError('not_found', 'webhook endpoint not found');
    return row;
  }
  const record = (
    actor: Actor,
    action: string,
    ep: { id: string; client_id: string | null },
    data?: Record<string, unknown>,
  ) =>
    audit.record({
      actor,
      action,
      targetType: 'webhook_endpoint',
      targetId: ep.id,
      clientId: ep.client_id,
      data,
    });

  /**
   * Writes the message and one delivery per subscribed endpoint, in the caller's transaction;
   * false when the event's dedupe key was used already.
   */
  async function write(trx: Kysely<Database>, event: WebhookEventInput): Promise<boolean> {
    const now = clock.now();
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
      endpoints.map((e) => ({
        id: newId('webhookDelivery', now.getTime()),
        message_id: id,
        endpoint_id: e.id,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: iso,
        claimed_until: null,
        claimed_by: null,
        created_at: iso,
        finished_at: null,
      })),
      trx,
    );
    if (endpoints.length) deps.onEmit?.();
    return true;
  }
  const emit: EmitEvent = async (trx, event) => {
    await write(trx, event);
  };
  const emitAlone: EmitAlone = (event) => store.transaction((trx) => write(trx, event));

  async function toMessages(
    rows: WebhookMessagesTable[],
    owner?: Owner,
  ): Promise<WebhookMessage[]> {
    const deliveries = await store.deliveriesOf(
      rows.map((r) => r.id),
      owner,
    );
    return rows.map((r) => ({
      id: r.id,
      eventType: r.event_type,
      clientId: r.client_id,
      payload: JSON.parse(r.payload) as unknown,
      createdAt: r.created_at,
      deliveries: deliveries
        .filter((d) => d.message_id === r.id)
        .map((d) => ({
          id: d.id,
          endpointId: d.endpoint_id,
          status: d.status,
          attempts: d.attempts,
          nextAttemptAt: d.status === 'pending' ? d.next_attempt_at : null,
          finishedAt: d.finished_at,
        })),
    }));
  }

  /** A client sees its own messages and only its own endpoints' deliveries; the operator all. */
  const scopeOf = (owner: Owner) =>
    owner === null
      ? { clientId: undefined, deliveries: undefined }
      : { clientId: owner, deliveries: owner };

  return {
    emit,
    emitAlone,
    eventTypes: EVENT_TYPES,

    async createEndpoint(owner: Owner, input: EndpointInput, actor: Actor) {
      const now = clock.now();
      const iso = now.toISOString();
      const id = newId('webhookEndpoint', now.getTime());
      const secret = newSigningSecret();
      const row: WebhookEndpointsTable = {
        id,
        client_id: owner,
        url: checkEndpointUrl(input.url, allowPrivate),
        description: (input.description ?? '').slice(0, 500),
        event_types: checkEventTypes(input.eventTypes),
        enabled: input.enabled === false ? 0 : 1,
        secret_sealed: sealSecret(keyring, id, secret),
        previous_secret_sealed: null,
        previous_expires_at: null,
        failing_since: null,
        disabled_reason: null,
        created_at: iso,
        updated_at: iso,
      };
      await store.insertEndpoint(row);
      await record(actor, 'webhook_endpoint.created', row, { url: row.url });
      return { endpoint: toEndpoint(row), secret };
    },

    async listEndpoints(owner: Owner): Promise<WebhookEndpoint[]> {
      return (await store.listEndpoints(owner)).map(toEndpoint);
    },

    async getEndpoint(owner: Owner, id: string): Promise<WebhookEndpoint> {
      return toEndpoint(await mustFind(owner, id));
    },

    async updateEndpoint(owner: Owner, id: string, input: Partial<EndpointInput>, actor: Actor) {
      const row = await mustFind(owner, id);
      const patch: Partial<WebhookEndpointsTable> = { updated_at: clock.now().toISOString() };
      if (input.url !== undefined) patch.url = checkEndpointUrl(input.url, allowPrivate);
      if (input.description !== undefined) patch.description = input.description.slice(0, 500);
      if (input.eventTypes !== undefined) patch.event_types = checkEventTypes(input.eventTypes);
      if (input.enabled !== undefined) {
        patch.enabled = input.enabled ? 1 : 0;
        // Re-enabling starts a fresh failing streak.
        if (input.enabled) Object.assign(patch, { disabled_reason: null, failing_since: null });
      }
      await store.updateEndpoint(owner, id, patch);
      await record(actor, 'webhook_endpoint.updated', row, { fields: Object.keys(input) });
      return toEndpoint(await mustFind(owner, id));
    },

    async deleteEndpoint(owner: Owner, id: string, actor: Actor): Promise<void> {
      const row = await mustFind(owner, id);
      await store.deleteEndpoint(owner, id);
      await record(actor, 'webhook_endpoint.deleted', row);
    },

    /** A new secret (shown once); the old one keeps signing too for `graceSeconds`. */
    async rollSecret(
      owner: Owner,
      id: string,
      actor: Actor,
      graceSeconds = DEFAULT_ROLL_GRACE_SECONDS,
    ) {
      const row = await mustFind(owner, id);
      const now = clock.now();
      const secret = newSigningSecret();
      await store.updateEndpoint(owner, id, {
        secret_sealed: sealSecret(keyring, id, secret),
        previous_secret_sealed: graceSeconds > 0 ? row.secret_sealed : null,
        previous_expires_at:
          graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000).toISOString() : null,
        updated_at: now.toISOString(),
      });
      await record(actor, 'webhook_endpoint.secret_rolled', row, { graceSeconds });
      return { endpoint: toEndpoint(await mustFind(owner, id)), secret };
    },

    async listMessages(
      owner: Owner,
      opts: { limit?: number; cursor?: string; eventType?: string } = {},
    ) {
      const scope = scopeOf(owner);
      return readPage(
        { ...opts, maxLimit: 500 },
        (limit) => store.listMessages({ ...opts, clientId: scope.clientId, limit }),
        (rows) => toMessages(rows, scope.deliveries),
        byId,
      );
    },

    async getMessage(
      owner: Owner,
      id: string,
    ): Promise<WebhookMessage & { attempts: WebhookAttempt[] }> {
      const scope = scopeOf(owner);
      const row = await store.findMessage(id, scope.clientId);
      if (!row) throw new AppError('not_found', 'webhook message not found');
      const [message] = await toMessages([row], scope.deliveries);
      const attempts = await store.attemptsOf(
        id,
        message!.deliveries.map((d) => d.endpointId),
      );
      return {
        ...message!,
        attempts: attempts.map((a) => ({
          id: a.id,
          deliveryId: a.delivery_id,
          endpointId: a.endpoint_id,
          attempt: a.attempt,
          startedAt: a.started_at,
          durationMs: a.duration_ms,
          statusCode: a.status_code,
          outcome: a.outcome,
          error: a.error,
          responseExcerpt: a.response_excerpt,
        })),
      };
    },

    /**
     * Sends a message again (same `webhook-id`, so receivers deduplicate) to one endpoint of
     * the caller's, or to every endpoint of the caller's that it went to before.
     */
    async replay(owner: Owner, messageId: string, actor: Actor, endpointId?: string) {
      const message = await this.getMessage(owner, messageId);
      let targets = [...new Set(message.deliveries.map((d) => d.endpointId))];
      if (endpointId) {
        await mustFind(owner, endpointId);
        targets = [endpointId];
      }
      if (!targets.length)
        throw new AppError('conflict', 'this message went to none of your endpoints; name one');
      const now = clock.now();
      const iso = now.toISOString();
      await store.insertDeliveries(
        targets.map((e) => ({
          id: newId('webhookDelivery', now.getTime()),
          message_id: messageId,
          endpoint_id: e,
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: iso,
          claimed_until: null,
          claimed_by: null,
          created_at: iso,
          finished_at: null,
        })),
      );
      await audit.record({
        actor,
        action: 'webhook_message.replayed',
        targetType: 'webhook_message',
        targetId: messageId,
        clientId: message.clientId,
        data: { endpoints: targets },
      });
      return this.getMessage(owner, messageId);
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
