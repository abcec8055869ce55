import type { Actor, AuditService } from '../audit/index.ts';
import type { ApiKey, CreateKeyInput } from '../keys/index.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import type { CreateClientInput, ImportClientInput, UpdateClientInput } from './clients-input.ts';
import { createClientReads, mustFindClient, toClient } from './clients-read.ts';
import type { ClientsStore } from './clients-store.ts';
import type { Client, ClientStatus, ClientsTable, RateLimitSetting } from './clients-types.ts';

export { clientSnapshots, toClient } from './clients-read.ts';

/** What clients ask of keys: a first key, telling the caches, destroying them on deletion. */
export interface ClientKeys {
  create(
    clientId: string,
    input: CreateKeyInput,
    actor: Actor,
  ): Promise<{ key: ApiKey; apiKey: string }>;
  clientChanged(clientId: string): Promise<void>;
  destroyAllForClient(clientId: string): Promise<number>;
}

export interface ClientsServiceDeps {
  clientsStore: ClientsStore;
  keys: ClientKeys;
  audit: AuditService;
  clock: Clock;
  /** The webhooks outbox: written in the same transaction as the status change. */
  emit?: EmitEvent;
}

interface ClientsContext extends ClientsServiceDeps {
  deletedHooks: Array<(clientId: string) => Promise<void>>;
}

type FirstKey = { environment?: 'live' | 'test'; name?: string };

/**
 * Clients (tenants): create with a first key shown once, suspend / reactivate (reversible),
 * delete (permanent: keys destroyed, PII scrubbed, the row kept as a tombstone for accounting).
 * Its input is what the schemas of clients-input.ts produced (the faces and the import parse
 * with them); the service checks the rules: a client's state.
 */
export function createClientsService(deps: ClientsServiceDeps) {
  const ctx: ClientsContext = { ...deps, deletedHooks: [] };
  return {
    create: (input: CreateClientInput, actor: Actor, firstKey: FirstKey = {}) =>
      create(ctx, input, actor, firstKey),
    /**
     * A client brought over from another system (src/import/): no first key (its own keys are
     * imported as legacy keys), its original creation time kept.
     */
    importClient: (input: ImportClientInput, actor: Actor) => importClient(ctx, input, actor),
    ...createClientReads(deps.clientsStore),
    update: (clientId: string, input: UpdateClientInput, actor: Actor) =>
      update(ctx, clientId, input, actor),
    /** Stops every key of the client at once; reversible. */
    suspend: (clientId: string, actor: Actor, reason?: string) =>
      setStatus(ctx, clientId, ['active'], 'suspended', 'client.suspended', actor, {
        reason: reason ?? null,
      }),
    reactivate: (clientId: string, actor: Actor) =>
      setStatus(ctx, clientId, ['suspended'], 'active', 'client.reactivated', actor),
    /**
     * Permanent: keys destroyed, credentials shredded (via onDeleted hooks), PII scrubbed. The
     * row stays as a tombstone so invoices and usage still add up.
     */
    delete: (clientId: string, actor: Actor) => deleteClient(ctx, clientId, actor),
    /** Other modules (credentials) clean up their own data when a client is deleted. */
    onDeleted(fn: (clientId: string) => Promise<void>): void {
      ctx.deletedHooks.push(fn);
    },
  };
}

/** A client that is not deleted. */
async function mustLive(ctx: ClientsContext, clientId: string): Promise<ClientsTable> {
  const row = await mustFindClient(ctx.clientsStore, clientId);
  if (row.status === 'deleted') throw new AppError('not_found', 'client not found');
  return row;
}

/** A new client's row, created at `created` (an import keeps its original time). */
function clientRow(input: CreateClientInput, created: Date, now: Date): ClientsTable {
  return {
    id: newId('client', created.getTime()),
    name: input.name,
    email: input.email,
    tier: input.tier ?? 'default',
    status: 'active',
    metadata: JSON.stringify(input.metadata ?? {}),
    default_rate_limit: rateLimitText(input.defaultRateLimit),
    created_at: created.toISOString(),
    updated_at: now.toISOString(),
    suspended_at: null,
    deleted_at: null,
  };
}

/** A new client's row, stored and audited as created or imported. */
async function insertAudited(
  ctx: ClientsContext,
  row: ClientsTable,
  action: 'client.created' | 'client.imported',
  actor: Actor,
): Promise<void> {
  await ctx.clientsStore.insert(row);
  await ctx.audit.record({
    actor,
    action,
    targetType: 'client',
    targetId: row.id,
    clientId: row.id,
    data: { name: row.name, tier: row.tier },
  });
}

async function create(
  ctx: ClientsContext,
  input: CreateClientInput,
  actor: Actor,
  firstKey: FirstKey,
): Promise<{ client: Client; key: ApiKey; apiKey: string }> {
  const now = ctx.clock.now();
  const row = clientRow(input, now, now);
  await insertAudited(ctx, row, 'client.created', actor);
  // The first key is the client's owner key: every scope, like seed 01's single key.
  const { key, apiKey } = await ctx.keys.create(
    row.id,
    {
      name: firstKey.name ?? 'default',
      environment: firstKey.environment ?? 'live',
      scopes: ['*'],
    },
    actor,
  );
  return { client: toClient(row), key, apiKey };
}

async function importClient(
  ctx: ClientsContext,
  input: ImportClientInput,
  actor: Actor,
): Promise<Client> {
  const now = ctx.clock.now();
  const created = input.createdAt ? new Date(Date.parse(input.createdAt)) : now;
  const row = clientRow(input, created, now);
  await insertAudited(ctx, row, 'client.imported', actor);
  return toClient(row);
}

async function update(
  ctx: ClientsContext,
  clientId: string,
  input: UpdateClientInput,
  actor: Actor,
): Promise<Client> {
  await mustLive(ctx, clientId);
  const patch: Partial<ClientsTable> = { updated_at: ctx.clock.now().toISOString() };
  if (input.name !== undefined) patch.name = input.name;
  if (input.email !== undefined) patch.email = input.email;
  if (input.tier !== undefined) patch.tier = input.tier;
  if (input.metadata !== undefined) patch.metadata = JSON.stringify(input.metadata);
  if (input.defaultRateLimit !== undefined)
    patch.default_rate_limit = rateLimitText(input.defaultRateLimit);
  await ctx.clientsStore.update(clientId, patch);
  await ctx.keys.clientChanged(clientId);
  await ctx.audit.record({
    actor,
    action: 'client.updated',
    targetType: 'client',
    targetId: clientId,
    clientId,
    data: { fields: Object.keys(input) },
  });
  return toClient(await mustFindClient(ctx.clientsStore, clientId));
}

async function setStatus(
  ctx: ClientsContext,
  clientId: string,
  from: ClientStatus[],
  to: ClientStatus,
  action: string,
  actor: Actor,
  data?: Record<string, unknown>,
): Promise<Client> {
  const row = await mustLive(ctx, clientId);
  const at = ctx.clock.now().toISOString();
  const changed = await ctx.clientsStore.transaction(async (tx, trx) => {
    const ok = await tx.transition(clientId, from, {
      status: to,
      updated_at: at,
      suspended_at: to === 'suspended' ? at : null,
    });
    // client.suspended / client.reactivated: committed with the status, or not at all.
    if (ok && ctx.emit) {
      const client = { id: clientId, name: row.name, status: to };
      await ctx.emit(trx, {
        type: action as 'client.suspended' | 'client.reactivated',
        clientId,
        data: { client, ...data },
      });
    }
    return ok;
  });
  if (changed) {
    await ctx.keys.clientChanged(clientId);
    await ctx.audit.record({
      actor,
      action,
      targetType: 'client',
      targetId: clientId,
      clientId,
      data,
    });
  }
  return toClient(await mustFindClient(ctx.clientsStore, clientId));
}

async function deleteClient(ctx: ClientsContext, clientId: string, actor: Actor): Promise<Client> {
  await mustLive(ctx, clientId);
  const at = ctx.clock.now().toISOString();
  await ctx.clientsStore.transition(clientId, ['active', 'suspended'], {
    status: 'deleted',
    name: `deleted client ${clientId.slice(-6)}`,
    email: null,
    metadata: '{}',
    default_rate_limit: null,
    updated_at: at,
    deleted_at: at,
  });
  const destroyed = await ctx.keys.destroyAllForClient(clientId);
  for (const hook of ctx.deletedHooks) await hook(clientId);
  await ctx.audit.record({
    actor,
    action: 'client.deleted',
    targetType: 'client',
    targetId: clientId,
    clientId,
    data: { keysDestroyed: destroyed },
  });
  return toClient(await mustFindClient(ctx.clientsStore, clientId));
}

/** The stored form of a default rate limit: its two fields as JSON, or null for none. */
function rateLimitText(rl: RateLimitSetting | null | undefined): string | null {
  return rl ? JSON.stringify({ limit: rl.limit, windowSeconds: rl.windowSeconds }) : null;
}

export type ClientsService = ReturnType<typeof createClientsService>;
