/**
 * The webhooks module's public surface: endpoints and the message log (the service), the
 * transactional outbox port every module emits its events through (`EmitEvent`), the
 * dispatcher that delivers them, and the event catalog the faces document and validate.
 * Other modules import from here, never from the module's files.
 */
export { createWebhooksService } from './webhooks-service.ts';
export type { EmitAlone, EmitEvent } from './webhooks-outbox.ts';
export { createWebhooksStore } from './webhooks-store.ts';
export { createWebhookDispatcher } from './webhooks-dispatcher.ts';
export { EVENT_SCHEMAS, envelopeSchema } from './webhooks-events.ts';
export { RETRY_SCHEDULE_MS } from './webhooks-fns.ts';
export {
  EVENT_TYPES,
  type EventType,
  type WebhookEndpoint,
  type WebhookMessage,
} from './webhooks-types.ts';
