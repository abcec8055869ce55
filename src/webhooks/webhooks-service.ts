import type { WebhooksServiceDeps } from './webhooks-context.ts';
import { createWebhookEndpoints } from './webhooks-endpoints.ts';
import { createWebhookMessages } from './webhooks-messages.ts';
import { createOutbox } from './webhooks-outbox.ts';
import { EVENT_TYPES } from './webhooks-types.ts';

export type { WebhooksServiceDeps } from './webhooks-context.ts';
export {
  DEFAULT_ROLL_GRACE_SECONDS,
  toEndpoint,
  type EndpointInput,
} from './webhooks-endpoints.ts';
export type { EmitAlone, EmitEvent } from './webhooks-outbox.ts';

/**
 * Webhook endpoints (the operator's and each client's), the outbox port `emit`, and the
 * message log. Delivery is the dispatcher's (webhooks-dispatcher.ts).
 *
 * The parts: `webhooks-outbox.ts` (emit), `webhooks-endpoints.ts` and `webhooks-messages.ts`.
 */
export function createWebhooksService(deps: WebhooksServiceDeps) {
  return {
    ...createOutbox(deps),
    eventTypes: EVENT_TYPES,
    ...createWebhookEndpoints(deps),
    ...createWebhookMessages(deps),
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
