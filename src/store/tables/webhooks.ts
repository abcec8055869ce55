import type { Generated } from 'kysely';

/**
 * The webhooks tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
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
