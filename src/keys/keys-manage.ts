import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf } from '../lib/ids.ts';
import { byId, readPage } from '../lib/page.ts';
import { keySummary } from './key-events.ts';
import { buildKeyRow, toApiKey, withPool, type CreateKeyInput } from './key-rows.ts';
import { KEY_HASH, get, mustClient, mustFind, type KeysContext } from './keys-context.ts';
import { roll } from './keys-roll.ts';
import type { InTx } from './keys-store.ts';
import type { ApiKey, KeyRow, KeysTable } from './keys-types.ts';

/**
 * Key management: issue, list, revoke, reactivate, roll (keys-roll.ts), delete. Each
 * change is audited and published to every node's verification cache.
 */
export function createKeyAdmin(ctx: KeysContext) {
  return {
    create: (clientId: string, input: CreateKeyInput, actor: Actor) =>
      create(ctx, clientId, input, actor),
    list: (clientId: string, opts: { limit?: number; cursor?: string } = {}) =>
      list(ctx, clientId, opts),
    listForClients: (clientIds: readonly string[]) => listForClients(ctx, clientIds),
    get: (clientId: string, keyId: string) => get(ctx, clientId, keyId),
    revoke: (
      clientId: string,
      keyId: string,
      actor: Actor,
      reason?: string | null,
      opts: { retire?: boolean } = {},
    ) => revoke(ctx, clientId, keyId, actor, reason, opts),
    reactivate: (clientId: string, keyId: string, actor: Actor) =>
      reactivate(ctx, clientId, keyId, actor),
    roll: (clientId: string, keyId: string, actor: Actor, gracePeriodSeconds?: number) =>
      roll(ctx, clientId, keyId, actor, gracePeriodSeconds),
    delete: (clientId: string, keyId: string, actor: Actor) =>
      deleteKey(ctx, clientId, keyId, actor),
    /** Destroys every key of a client (client deletion). */
    destroyAllForClient: (clientId: string) => destroyAllForClient(ctx, clientId),
    /** Tells every node that a client changed (status, name, tier, default limit). */
    clientChanged: (clientId: string) => ctx.publish('client', clientId, clientId),
    lookupByHash: (hash: string) => lookupByHash(ctx, hash),
    ownerOf: (keyId: string) => ownerOf(ctx, keyId),
  };
}

export async function create(
  ctx: KeysContext,
  clientId: string,
  input: CreateKeyInput,
  actor: Actor,
): Promise<{ key: ApiKey; apiKey: string }> {
  if (!isIdOf('client', clientId)) throw new AppError('not_found', 'client not found');
  await mustClient(ctx, clientId);
  const { row, pool, apiKey } = buildKeyRow(ctx.keyPrefix, clientId, input, ctx.clock.now());
  await ctx.keysStore.insert(
    row,
    pool,
    ctx.events.inTx({ type: 'key.created', clientId, data: { key: keySummary(row) } }),
  );
  await ctx.audit.record({
    actor,
    action: 'key.created',
    targetType: 'key',
    targetId: row.id,
    clientId,
    data: { start: row.start, environment: row.environment, scopes: JSON.parse(row.scopes) },
  });
  return { key: toApiKey(withPool(row, pool)), apiKey };
}

async function list(ctx: KeysContext, clientId: string, opts: { limit?: number; cursor?: string }) {
  return readPage(
    { ...opts, defaultLimit: 100 },
    (limit) => ctx.keysStore.list(clientId, { limit, cursor: opts.cursor }),
    (rows) => rows.map(toApiKey),
    byId,
  );
}

/** All keys of each of these clients (at most 1000 clients: one page of the client list). */
async function listForClients(
  ctx: KeysContext,
  clientIds: readonly string[],
): Promise<Map<string, ApiKey[]>> {
  const out = new Map<string, ApiKey[]>(clientIds.map((id) => [id, []]));
  for (let i = 0; i < clientIds.length; i += 500) {
    for (const row of await ctx.keysStore.listForClients(clientIds.slice(i, i + 500))) {
      out.get(row.client_id)?.push(toApiKey(row));
    }
  }
  return out;
}

/** Moves a key between active and revoked only from the expected status; audits a real change. */
async function setStatus(
  ctx: KeysContext,
  target: { clientId: string; keyId: string; from: KeysTable['status'] },
  patch: Partial<KeysTable>,
  event: { actor: Actor; action: string; data?: Record<string, unknown> },
  inTx?: (row: KeyRow) => InTx | undefined,
): Promise<ApiKey> {
  const { clientId, keyId, from } = target;
  const row = await mustFind(ctx, clientId, keyId);
  const updated_at = ctx.clock.now().toISOString();
  const changed = await ctx.keysStore.update(
    clientId,
    keyId,
    { ...patch, updated_at },
    { status: from },
    inTx?.({ ...row, ...patch, updated_at }),
  );
  if (changed) {
    await ctx.publish('key', keyId, clientId);
    await ctx.audit.record({ ...event, targetType: 'key', targetId: keyId, clientId });
  }
  return toApiKey(await mustFind(ctx, clientId, keyId));
}

/**
 * Revokes a key. `retire: true` revokes it for good: it is marked retired, so `reactivate`
 * refuses it, and an already revoked key is retired too. The leak scanner revokes a leaked
 * key this way, with a reason such as `leaked: <url>`.
 */
async function revoke(
  ctx: KeysContext,
  clientId: string,
  keyId: string,
  actor: Actor,
  reason: string | null | undefined,
  opts: { retire?: boolean },
): Promise<ApiKey> {
  const at = ctx.clock.now().toISOString();
  const why = reason?.slice(0, 500) ?? null;
  if (!opts.retire) {
    return setStatus(
      ctx,
      { clientId, keyId, from: 'active' },
      { status: 'revoked', revoked_at: at, revoked_reason: why },
      { actor, action: 'key.revoked', data: { reason: reason ?? null } },
      (after) => revokedEvent(ctx, after, reason ?? null, false),
    );
  }
  const before = await mustFind(ctx, clientId, keyId);
  const after: KeysTable = { ...before, status: 'revoked', retired_at: before.retired_at ?? at };
  const inTx = revokedEvent(ctx, after, reason ?? null, true);
  if (await ctx.keysStore.retire(clientId, keyId, at, why ?? 'retired', inTx)) {
    await ctx.publish('key', keyId, clientId);
    await ctx.audit.record({
      actor,
      action: 'key.revoked',
      targetType: 'key',
      targetId: keyId,
      clientId,
      data: { reason: reason ?? null, retired: true },
    });
  }
  return toApiKey(await mustFind(ctx, clientId, keyId));
}

function revokedEvent(ctx: KeysContext, row: KeysTable, reason: string | null, retired: boolean) {
  return ctx.events.inTx({
    type: 'key.revoked',
    clientId: row.client_id,
    data: { key: keySummary(row), reason, retired },
  });
}

/** Brings a revoked key back, unless it was retired (rolled or leaked): that is for good. */
async function reactivate(
  ctx: KeysContext,
  clientId: string,
  keyId: string,
  actor: Actor,
): Promise<ApiKey> {
  const row = await mustFind(ctx, clientId, keyId);
  if (row.retired_at) {
    const why = row.rolled_to
      ? `it was rolled (replaced by ${row.rolled_to})`
      : `it was revoked for good${row.revoked_reason ? ` (${row.revoked_reason})` : ''}`;
    throw new AppError('conflict', `key ${keyId} cannot be reactivated: ${why}`, {
      context: { keyId, retiredAt: row.retired_at },
    });
  }
  return setStatus(
    ctx,
    { clientId, keyId, from: 'revoked' },
    { status: 'active', revoked_at: null, revoked_reason: null },
    { actor, action: 'key.reactivated' },
  );
}

async function deleteKey(
  ctx: KeysContext,
  clientId: string,
  keyId: string,
  actor: Actor,
): Promise<void> {
  await mustFind(ctx, clientId, keyId);
  if (await ctx.keysStore.delete(clientId, keyId)) {
    await ctx.publish('key', keyId, clientId);
    await ctx.audit.record({
      actor,
      action: 'key.deleted',
      targetType: 'key',
      targetId: keyId,
      clientId,
    });
  }
}

async function destroyAllForClient(ctx: KeysContext, clientId: string): Promise<number> {
  const ids = await ctx.keysStore.deleteAllForClient(clientId);
  await ctx.publish('client', clientId, clientId);
  return ids.length;
}

/**
 * Which key has this at-rest hash, for leak reports and `keyplane scan --check` (operator
 * paths: the reporter is not a client). Storage, not the cache: a report must see a
 * revocation made on another node a moment ago.
 */
async function lookupByHash(ctx: KeysContext, hash: string): Promise<ApiKey | null> {
  if (!KEY_HASH.test(hash)) return null;
  const row = await ctx.keysStore.findByHash(hash);
  return row ? toApiKey(row) : null;
}

/** Operator paths only (the CLI names keys by id alone). */
async function ownerOf(ctx: KeysContext, keyId: string): Promise<string> {
  const owner = isIdOf('key', keyId) ? await ctx.keysStore.ownerOf(keyId) : null;
  if (!owner) throw new AppError('not_found', 'key not found');
  return owner;
}
