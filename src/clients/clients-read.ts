import type { ClientSnapshot } from '../keys/index.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf } from '../lib/ids.ts';
import { byId, readPage } from '../lib/page.ts';
import type { ClientsStore } from './clients-store.ts';
import type { Client, ClientStatus, ClientsTable, RateLimitSetting } from './clients-types.ts';

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

export async function mustFindClient(
  clientsStore: ClientsStore,
  clientId: string,
): Promise<ClientsTable> {
  // A malformed id names no client: answered without a query, exactly like a missing one.
  if (!isIdOf('client', clientId)) throw new AppError('not_found', 'client not found');
  const row = await clientsStore.find(clientId);
  if (!row) throw new AppError('not_found', 'client not found');
  return row;
}

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

/**
 * Reading clients: one, a page, a verification snapshot. Needs the store alone, so the modules
 * the clients service depends on (keys, billing, budgets) can read clients without it.
 */
export function createClientReads(clientsStore: ClientsStore) {
  return {
    async get(clientId: string): Promise<Client> {
      return toClient(await mustFindClient(clientsStore, clientId));
    },

    /** What verification needs of a client (see `clientSnapshots`). */
    snapshot: clientSnapshots(clientsStore),

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
  };
}

export type ClientReads = ReturnType<typeof createClientReads>;
