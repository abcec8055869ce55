import type { AuditService } from '../audit/index.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf } from '../lib/ids.ts';
import type { KeyEvents } from './key-events.ts';
import { toApiKey } from './key-rows.ts';
import type { KeysStore } from './keys-store.ts';
import type { ApiKey, ClientSnapshot, KeyRow } from './keys-types.ts';

/** What key management needs: storage, the audit log, the outbox and the change feed. */
export interface KeysContext {
  keysStore: KeysStore;
  audit: AuditService;
  clock: Clock;
  keyPrefix: string;
  getClient: (clientId: string) => Promise<ClientSnapshot | null>;
  events: KeyEvents;
  /** Tells every node's verification cache (this one's synchronously) that a key or client changed. */
  publish: (kind: 'key' | 'client', id: string, clientId: string) => Promise<void>;
}

/** A key's at-rest hash: SHA-256, lowercase hex. */
export const KEY_HASH = /^[0-9a-f]{64}$/;

export async function mustFind(ctx: KeysContext, clientId: string, keyId: string): Promise<KeyRow> {
  // A malformed id names no key: answered without a query, exactly like a missing one.
  if (!isIdOf('key', keyId) || !isIdOf('client', clientId)) {
    throw new AppError('not_found', 'key not found');
  }
  const row = await ctx.keysStore.find(clientId, keyId);
  if (!row) throw new AppError('not_found', 'key not found');
  return row;
}

export async function get(ctx: KeysContext, clientId: string, keyId: string): Promise<ApiKey> {
  return toApiKey(await mustFind(ctx, clientId, keyId));
}

/** A client keys may be made for: it exists and is not deleted. */
export async function mustClient(ctx: KeysContext, clientId: string): Promise<void> {
  const client = await ctx.getClient(clientId);
  if (!client || client.status === 'deleted') throw new AppError('not_found', 'client not found');
}

/**
 * Whether keyId names a key of clientId, from the store alone: budgets ask it, and they are
 * built before the keys service (whose verification reserves on them).
 */
export function keyExists(keysStore: KeysStore) {
  return async (clientId: string, keyId: string): Promise<boolean> =>
    isIdOf('key', keyId) &&
    isIdOf('client', clientId) &&
    (await keysStore.find(clientId, keyId)) !== undefined;
}
