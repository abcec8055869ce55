import type { Generated } from 'kysely';

/**
 * Webhooks (issue 15): endpoints the operator or a client registers, messages written to an
 * outbox in the same transaction as the state change that causes them, one delivery row per
 * message and endpoint, and one attempt row per HTTP try.
 */

/** Every event type Keyplane emits. Payloads are `{type, version, timestamp, data}`. */
export const EVENT_TYPES = [
  'key.created',
  'key.revoked',
  'key.rolled',
  'key.expiring',
  'key.exposed',
  'client.suspended',
  'client.reactivated',
  'credits.low',
  'ratelimit.exceeded',
  'invoice.issued',
  'invoice.sent',
  'invoice.paid',
  'invoice.delivery_failed',
  'credential.verification_failed',
  'budget.threshold',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The version of the payload shape; bumped when a field changes meaning or goes away. */
export const PAYLOAD_VERSION = 1;

/** What a module hands to `emit`: the client the event concerns (null: operator only). */
export interface WebhookEventInput {
  type: EventType;
  clientId: string | null;
  /** Ids, names, states, amounts: never a secret (keys, credentials, signing secrets). */
  data: Record<string, unknown>;
  /**
   * An event sent at most once per key, across every node (a unique column): a second emit
   * with the same key writes nothing and `emit` answers false.
   */
  dedupeKey?: string;
}

export interface WebhookEndpointsTable {
  id: string;
  /** null: an operator endpoint (all clients' events); else the owning client's own events. */
  client_id: string | null;
  url: string;
  description: string;
  /** JSON array of event types; `[]` = every type. */
  event_types: string;
  enabled: number;
  /** The signing secret, sealed with the master key (see sealSecret). */
  secret_sealed: string;
  /** The secret before the last roll, still signing until previous_expires_at. */
  previous_secret_sealed: string | null;
  previous_expires_at: string | null;
  /** First failure of the current failing streak (cleared by a 2xx); 5 days of it disables. */
  failing_since: string | null;
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookMessagesTable {
  id: string;
  event_type: string;
  client_id: string | null;
  /** The JSON body sent, byte for byte (signatures cover exactly these bytes). */
  payload: string;
  created_at: string;
  /** Unique when set: see WebhookEventInput.dedupeKey. */
  dedupe_key?: string | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveriesTable {
  /** Insertion order: an endpoint's deliveries go out oldest first, one at a time. */
  seq: Generated<number>;
  id: string;
  message_id: string;
  endpoint_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  /** A dispatcher's lease: another node takes the row only once it has passed (crash recovery). */
  claimed_until: string | null;
  claimed_by: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface WebhookAttemptsTable {
  id: string;
  delivery_id: string;
  message_id: string;
  endpoint_id: string;
  attempt: number;
  started_at: string;
  duration_ms: number;
  /** HTTP status, null when no response came (timeout, reset, refused). */
  status_code: number | null;
  outcome: 'delivered' | 'failed';
  error: string | null;
  response_excerpt: string | null;
}

export interface WebhooksTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}

export interface WebhookEndpoint {
  id: string;
  clientId: string | null;
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WebhookMessage {
  id: string;
  eventType: string;
  clientId: string | null;
  payload: unknown;
  createdAt: string;
  deliveries: Array<{
    id: string;
    endpointId: string;
    status: DeliveryStatus;
    attempts: number;
    nextAttemptAt: string | null;
    finishedAt: string | null;
  }>;
}

export interface WebhookAttempt {
  id: string;
  deliveryId: string;
  endpointId: string;
  attempt: number;
  startedAt: string;
  durationMs: number;
  statusCode: number | null;
  outcome: 'delivered' | 'failed';
  error: string | null;
  responseExcerpt: string | null;
}
