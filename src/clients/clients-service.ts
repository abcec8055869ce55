import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { KeysService, ClientSnapshot } from '../keys/keys-service.ts';
import type { ApiKey } from '../keys/keys-types.ts';
import type { Clock } from '../lib/clock.ts';
import { isEmailAddress } from '../lib/email.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf, newId } from '../lib/ids.ts';
import { byId, readPage } from '../lib/page.ts';
import type { EmitEvent } from '../webhooks/webhooks-service.ts';
import type { ClientsStore } from './clients-store.ts';
import type { Client, ClientStatus, ClientsTable, RateLimitSetting } from './clients-types.ts';

export interface ClientsServiceDeps {
  clientsStore: ClientsStore;
  keys: KeysService;
  audit: AuditService;
  clock: Clock;
  /** The webhooks outbox: written in the same transaction as the status change. */
  emit?: EmitEvent;
}

export interface CreateClientInput {
  name: string;
  email: string;
  tier?: string;
  metadata?: Record<string, unknown>;
  defaultRateLimit?: RateLimitSetting | null;
}

export interface UpdateClientInput {
  name?: string;
  email?: string;
  tier?: string;
  metadata?: Record<string, unknown>;
  defaultRateLimit?: RateLimitSetting | null;
}

const TIER = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export function toClient(r: ClientsTable): Client {
  return {
    id: r.id,
    name: r.name,
    email: r.email,
    tier: r.tier,
    status: r.status,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    defaultRateLimit: r.default_rate_limit
      ? (JSON.parse(r.default_rate_limit) as RateLimitSetting)
      : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    suspendedAt: r.suspended_at,
    deletedAt: r.deleted_at,
  };
}

function checkName(name: string): string {
  const n = name.trim();
  if (!n || n.length > 200)
    throw new AppError('validation_failed', 'name must be 1-200 characters');
  return n;
}
function checkEmail(email: string): string {
  const e = email.trim();
  if (!isEmailAddress(e))
    throw new AppError('validation_failed', `invalid email "${e.slice(0, 80)}"`);
  return e;
}
function checkTier(tier: string): string {
  if (!TIER.test(tier))
    throw new AppError('validation_failed', 'tier must be lowercase letters, digits, - or _');
  return tier;
}
function checkMeta(meta: Record<string, unknown>): string {
  const s = JSON.stringify(meta);
  if (Buffer.byteLength(s) > 8192)
    throw new AppError('validation_failed', 'metadata must be at most 8 KiB of JSON');
  return s;
}
function checkRateLimit(rl: RateLimitSetting | null | undefined): string | null {
  if (!rl) return null;
  if (
    !Number.isInteger(rl.limit) ||
    rl.limit < 1 ||
    !Number.isInteger(rl.windowSeconds) ||
    rl.windowSeconds < 1
  ) {
    throw new AppError(
      'validation_failed',
      'defaultRateLimit needs a positive whole limit and windowSeconds',
    );
  }
  return JSON.stringify({ limit: rl.limit, windowSeconds: rl.windowSeconds });
}

/**
 * Clients (tenants): create with a first key shown once, suspend / reactivate (reversible),
 * delete (permanent: keys destroyed, PII scrubbed, the row kept as a tombstone for accounting).
 */
/**
 * What keys and credentials need of a client while they verify: read from the clients store
 * alone, so they can be built before the clients service (which creates keys) without a cycle.
 */
export function clientSnapshots(clientsStore: ClientsStore) {
  return async function snapshot(clientId: string): Promise<ClientSnapshot | null> {
    if (!isIdOf('client', clientId)) return null;
    const row = await clientsStore.find(clientId);
    if (!row) return null;
    const c = toClient(row);
    return {
      id: c.id,
      name: c.name,
      tier: c.tier,
      status: c.status,
      defaultRateLimit: c.defaultRateLimit,
    };
  };
}

export function createClientsService({
  clientsStore,
  keys,
  audit,
  clock,
  emit,
}: ClientsServiceDeps) {
  const snapshot = clientSnapshots(clientsStore);
  const deletedHooks: Array<(clientId: string) => Promise<void>> = [];

  async function mustFind(clientId: string): Promise<ClientsTable> {
    // A malformed id names no client: answered without a query, exactly like a missing one.
    if (!isIdOf('client', clientId)) throw new AppError('not_found', 'client not found');
    const row = await clientsStore.find(clientId);
    if (!row) throw new AppError('not_found', 'client not found');
    return row;
  }

  async function setStatus(
    clientId: string,
    from: ClientStatus[],
    to: ClientStatus,
    action: string,
    actor: Actor,
    data?: Record<string, unknown>,
  ): Promise<Client> {
    const row = await mustFind(clientId);
    if (row.status === 'deleted') throw new AppError('not_found', 'client not found');
    const at = clock.now().toISOString();
    const changed = await clientsStore.transaction(async (tx, trx) => {
      const ok = await tx.transition(clientId, from, {
        status: to,
        updated_at: at,
        suspended_at: to === 'suspended' ? at : null,
      });
      // client.suspended / client.reactivated: committed with the status, or not at all.
      if (ok && emit) {
        const client = { id: clientId, name: row.name, status: to };
        await emit(trx, {
          type: action as 'client.suspended' | 'client.reactivated',
          clientId,
          data: { client, ...data },
        });
      }
      return ok;
    });
    if (changed) {
      await keys.clientChanged(clientId);
      await audit.record({
        actor,
        action,
        targetType: 'client',
        targetId: clientId,
        clientId,
        data,
      });
    }
    return toClient(await mustFind(clientId));
  }

  return {
    async create(
      input: CreateClientInput,
      actor: Actor,
      firstKey: { environment?: 'live' | 'test'; name?: string } = {},
    ): Promise<{ client: Client; key: ApiKey; apiKey: string }> {
      const now = clock.now();
      const iso = now.toISOString();
      const row: ClientsTable = {
        id: newId('client', now.getTime()),
        name: checkName(input.name),
        email: checkEmail(input.email),
        tier: checkTier(input.tier ?? 'default'),
        status: 'active',
        metadata: checkMeta(input.metadata ?? {}),
        default_rate_limit: checkRateLimit(input.defaultRateLimit),
        created_at: iso,
        updated_at: iso,
        suspended_at: null,
        deleted_at: null,
      };
      await clientsStore.insert(row);
      await audit.record({
        actor,
        action: 'client.created',
        targetType: 'client',
        targetId: row.id,
        clientId: row.id,
        data: { name: row.name, tier: row.tier },
      });
      // The first key is the client's owner key: every scope, like seed 01's single key.
      const { key, apiKey } = await keys.create(
        row.id,
        {
          name: firstKey.name ?? 'default',
          environment: firstKey.environment ?? 'live',
          scopes: ['*'],
        },
        actor,
      );
      return { client: toClient(row), key, apiKey };
    },

    /**
     * A client brought over from another system (src/import/): no first key (its own keys are
     * imported as legacy keys), its original creation time kept.
     */
    async importClient(
      input: CreateClientInput & { createdAt?: string | null },
      actor: Actor,
    ): Promise<Client> {
      const now = clock.now();
      const created = input.createdAt ? new Date(Date.parse(input.createdAt)) : now;
      if (Number.isNaN(created.getTime())) {
        throw new AppError('validation_failed', 'createdAt is not a valid time');
      }
      const row: ClientsTable = {
        id: newId('client', created.getTime()),
        name: checkName(input.name),
        email: checkEmail(input.email),
        tier: checkTier(input.tier ?? 'default'),
        status: 'active',
        metadata: checkMeta(input.metadata ?? {}),
        default_rate_limit: checkRateLimit(input.defaultRateLimit),
        created_at: created.toISOString(),
        updated_at: now.toISOString(),
        suspended_at: null,
        deleted_at: null,
      };
      await clientsStore.insert(row);
      await audit.record({
        actor,
        action: 'client.imported',
        targetType: 'client',
        targetId: row.id,
        clientId: row.id,
        data: { name: row.name, tier: row.tier },
      });
      return toClient(row);
    },

    async get(clientId: string): Promise<Client> {
      return toClient(await mustFind(clientId));
    },

    /** What verification needs of a client (see `clientSnapshots`). */
    snapshot,

    async list(
      opts: { limit?: number; cursor?: string; status?: ClientStatus; search?: string } = {},
    ) {
      const search = opts.search?.trim() || undefined;
      return readPage(
        opts,
        (limit) => clientsStore.list({ limit, cursor: opts.cursor, status: opts.status, search }),
        (rows) => rows.map(toClient),
        byId,
      );
    },

    async update(clientId: string, input: UpdateClientInput, actor: Actor): Promise<Client> {
      const row = await mustFind(clientId);
      if (row.status === 'deleted') throw new AppError('not_found', 'client not found');
      const patch: Partial<ClientsTable> = { updated_at: clock.now().toISOString() };
      if (input.name !== undefined) patch.name = checkName(input.name);
      if (input.email !== undefined) patch.email = checkEmail(input.email);
      if (input.tier !== undefined) patch.tier = checkTier(input.tier);
      if (input.metadata !== undefined) patch.metadata = checkMeta(input.metadata);
      if (input.defaultRateLimit !== undefined)
        patch.default_rate_limit = checkRateLimit(input.defaultRateLimit);
      await clientsStore.update(clientId, patch);
      await keys.clientChanged(clientId);
      await audit.record({
        actor,
        action: 'client.updated',
        targetType: 'client',
        targetId: clientId,
        clientId,
        data: { fields: Object.keys(input) },
      });
      return toClient(await mustFind(clientId));
    },

    /** Stops every key of the client at once; reversible. */
    suspend: (clientId: string, actor: Actor, reason?: string) =>
      setStatus(clientId, ['active'], 'suspended', 'client.suspended', actor, {
        reason: reason ?? null,
      }),

    reactivate: (clientId: string, actor: Actor) =>
      setStatus(clientId, ['suspended'], 'active', 'client.reactivated', actor),

    /**
     * Permanent: keys destroyed, credentials shredded (via onDeleted hooks), PII scrubbed. The row
     * stays as a tombstone so invoices and usage still add up.
     */
    async delete(clientId: string, actor: Actor): Promise<Client> {
      const row = await mustFind(clientId);
      if (row.status === 'deleted') throw new AppError('not_found', 'client not found');
      const at = clock.now().toISOString();
      await clientsStore.transition(clientId, ['active', 'suspended'], {
        status: 'deleted',
        name: `deleted client ${clientId.slice(-6)}`,
        email: null,
        metadata: '{}',
        default_rate_limit: null,
        updated_at: at,
        deleted_at: at,
      });
      const destroyed = await keys.destroyAllForClient(clientId);
      for (const hook of deletedHooks) await hook(clientId);
      await audit.record({
        actor,
        action: 'client.deleted',
        targetType: 'client',
        targetId: clientId,
        clientId,
        data: { keysDestroyed: destroyed },
      });
      return toClient(await mustFind(clientId));
    },

    /** Other modules (credentials) clean up their own data when a client is deleted. */
    onDeleted(fn: (clientId: string) => Promise<void>): void {
      deletedHooks.push(fn);
    },
  };
}

export type ClientsService = ReturnType<typeof createClientsService>;
