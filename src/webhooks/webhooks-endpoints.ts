import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { WebhooksContext } from './webhooks-context.ts';
import { checkEndpointUrl, newSigningSecret, sealSecret } from './webhooks-fns.ts';
import type { Owner } from './webhooks-store.ts';
import { EVENT_TYPES, type WebhookEndpoint, type WebhookEndpointsTable } from './webhooks-types.ts';

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

/** The operator's and each client's endpoints: where events go, and the secrets that sign them. */
export function createWebhookEndpoints(ctx: WebhooksContext) {
  const { webhooksStore: store } = ctx;
  return {
    createEndpoint: (owner: Owner, input: EndpointInput, actor: Actor) =>
      createEndpoint(ctx, owner, input, actor),

    async listEndpoints(owner: Owner): Promise<WebhookEndpoint[]> {
      return (await store.listEndpoints(owner)).map(toEndpoint);
    },

    async getEndpoint(owner: Owner, id: string): Promise<WebhookEndpoint> {
      return toEndpoint(await mustFindEndpoint(ctx, owner, id));
    },

    updateEndpoint: (owner: Owner, id: string, input: Partial<EndpointInput>, actor: Actor) =>
      updateEndpoint(ctx, owner, id, input, actor),

    async deleteEndpoint(owner: Owner, id: string, actor: Actor): Promise<void> {
      const row = await mustFindEndpoint(ctx, owner, id);
      await store.deleteEndpoint(owner, id);
      await record(ctx, actor, 'webhook_endpoint.deleted', row);
    },

    /** A new secret (shown once); the old one keeps signing too for `graceSeconds`. */
    rollSecret: (owner: Owner, id: string, actor: Actor, graceSeconds?: number) =>
      rollSecret(ctx, owner, id, actor, graceSeconds),
  };
}

export async function mustFindEndpoint(
  ctx: WebhooksContext,
  owner: Owner,
  id: string,
): Promise<WebhookEndpointsTable> {
  const row = await ctx.webhooksStore.findEndpoint(owner, id);
  if (!row) throw new AppError('not_found', 'webhook endpoint not found');
  return row;
}

function record(
  ctx: WebhooksContext,
  actor: Actor,
  action: string,
  ep: { id: string; client_id: string | null },
  data?: Record<string, unknown>,
) {
  return ctx.audit.record({
    actor,
    action,
    targetType: 'webhook_endpoint',
    targetId: ep.id,
    clientId: ep.client_id,
    data,
  });
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

async function createEndpoint(
  ctx: WebhooksContext,
  owner: Owner,
  input: EndpointInput,
  actor: Actor,
) {
  const now = ctx.clock.now();
  const iso = now.toISOString();
  const id = newId('webhookEndpoint', now.getTime());
  const secret = newSigningSecret();
  const row: WebhookEndpointsTable = {
    id,
    client_id: owner,
    url: checkEndpointUrl(input.url, ctx.allowPrivate),
    description: (input.description ?? '').slice(0, 500),
    event_types: checkEventTypes(input.eventTypes),
    enabled: input.enabled === false ? 0 : 1,
    secret_sealed: sealSecret(ctx.keyring, id, secret),
    previous_secret_sealed: null,
    previous_expires_at: null,
    failing_since: null,
    disabled_reason: null,
    created_at: iso,
    updated_at: iso,
  };
  await ctx.webhooksStore.insertEndpoint(row);
  await record(ctx, actor, 'webhook_endpoint.created', row, { url: row.url });
  return { endpoint: toEndpoint(row), secret };
}

async function updateEndpoint(
  ctx: WebhooksContext,
  owner: Owner,
  id: string,
  input: Partial<EndpointInput>,
  actor: Actor,
) {
  const row = await mustFindEndpoint(ctx, owner, id);
  const patch: Partial<WebhookEndpointsTable> = { updated_at: ctx.clock.now().toISOString() };
  if (input.url !== undefined) patch.url = checkEndpointUrl(input.url, ctx.allowPrivate);
  if (input.description !== undefined) patch.description = input.description.slice(0, 500);
  if (input.eventTypes !== undefined) patch.event_types = checkEventTypes(input.eventTypes);
  if (input.enabled !== undefined) {
    patch.enabled = input.enabled ? 1 : 0;
    // Re-enabling starts a fresh failing streak.
    if (input.enabled) Object.assign(patch, { disabled_reason: null, failing_since: null });
  }
  await ctx.webhooksStore.updateEndpoint(owner, id, patch);
  await record(ctx, actor, 'webhook_endpoint.updated', row, { fields: Object.keys(input) });
  return toEndpoint(await mustFindEndpoint(ctx, owner, id));
}

async function rollSecret(
  ctx: WebhooksContext,
  owner: Owner,
  id: string,
  actor: Actor,
  graceSeconds = DEFAULT_ROLL_GRACE_SECONDS,
) {
  const row = await mustFindEndpoint(ctx, owner, id);
  const now = ctx.clock.now();
  const secret = newSigningSecret();
  await ctx.webhooksStore.updateEndpoint(owner, id, {
    secret_sealed: sealSecret(ctx.keyring, id, secret),
    previous_secret_sealed: graceSeconds > 0 ? row.secret_sealed : null,
    previous_expires_at:
      graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000).toISOString() : null,
    updated_at: now.toISOString(),
  });
  await record(ctx, actor, 'webhook_endpoint.secret_rolled', row, { graceSeconds });
  return { endpoint: toEndpoint(await mustFindEndpoint(ctx, owner, id)), secret };
}
