import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { byId, readPage } from '../lib/page.ts';
import type { WebhooksContext } from './webhooks-context.ts';
import { mustFindEndpoint } from './webhooks-endpoints.ts';
import { pendingDelivery } from './webhooks-outbox.ts';
import type { Owner } from './webhooks-store.ts';
import type { WebhookAttempt, WebhookMessage, WebhookMessagesTable } from './webhooks-types.ts';

type MessageWithAttempts = WebhookMessage & { attempts: WebhookAttempt[] };

/** The message log: what was sent where, each attempt, and replays. */
export function createWebhookMessages(ctx: WebhooksContext) {
  return {
    async listMessages(
      owner: Owner,
      opts: { limit?: number; cursor?: string; eventType?: string } = {},
    ) {
      const scope = scopeOf(owner);
      return readPage(
        { ...opts, maxLimit: 500 },
        (limit) => ctx.webhooksStore.listMessages({ ...opts, clientId: scope.clientId, limit }),
        (rows) => toMessages(ctx, rows, scope.deliveries),
        byId,
      );
    },

    getMessage: (owner: Owner, id: string) => getMessage(ctx, owner, id),

    /**
     * Sends a message again (same `webhook-id`, so receivers deduplicate) to one endpoint of
     * the caller's, or to every endpoint of the caller's that it went to before.
     */
    replay: (owner: Owner, messageId: string, actor: Actor, endpointId?: string) =>
      replay(ctx, owner, messageId, actor, endpointId),
  };
}

/** A client sees its own messages and only its own endpoints' deliveries; the operator all. */
function scopeOf(owner: Owner) {
  return owner === null
    ? { clientId: undefined, deliveries: undefined }
    : { clientId: owner, deliveries: owner };
}

async function toMessages(
  ctx: WebhooksContext,
  rows: WebhookMessagesTable[],
  owner?: Owner,
): Promise<WebhookMessage[]> {
  const deliveries = await ctx.webhooksStore.deliveriesOf(
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

async function getMessage(
  ctx: WebhooksContext,
  owner: Owner,
  id: string,
): Promise<MessageWithAttempts> {
  const scope = scopeOf(owner);
  const row = await ctx.webhooksStore.findMessage(id, scope.clientId);
  if (!row) throw new AppError('not_found', 'webhook message not found');
  const [message] = await toMessages(ctx, [row], scope.deliveries);
  const attempts = await ctx.webhooksStore.attemptsOf(
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
}

async function replay(
  ctx: WebhooksContext,
  owner: Owner,
  messageId: string,
  actor: Actor,
  endpointId?: string,
): Promise<MessageWithAttempts> {
  const message = await getMessage(ctx, owner, messageId);
  let targets = [...new Set(message.deliveries.map((d) => d.endpointId))];
  if (endpointId) {
    await mustFindEndpoint(ctx, owner, endpointId);
    targets = [endpointId];
  }
  if (!targets.length)
    throw new AppError('conflict', 'this message went to none of your endpoints; name one');
  const now = ctx.clock.now();
  await ctx.webhooksStore.insertDeliveries(targets.map((e) => pendingDelivery(messageId, e, now)));
  await ctx.audit.record({
    actor,
    action: 'webhook_message.replayed',
    targetType: 'webhook_message',
    targetId: messageId,
    clientId: message.clientId,
    data: { endpoints: targets },
  });
  return getMessage(ctx, owner, messageId);
}
