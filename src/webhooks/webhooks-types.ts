import type { DeliveryStatus } from '../store/tables/webhooks.ts';
export type {
  DeliveryStatus,
  WebhookEndpointsTable,
  WebhookMessagesTable,
  WebhookDeliveriesTable,
  WebhookAttemptsTable,
  WebhooksTables,
} from '../store/tables/webhooks.ts';

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
