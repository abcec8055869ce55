import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { keySummary } from './key-events.ts';
import { buildKeyRow, toApiKey } from './key-rows.ts';
import { mustFind, type KeysContext } from './keys-context.ts';
import type { ApiKey, KeyRow, KeysTable } from './keys-types.ts';

export interface RollResult {
  key: ApiKey;
  apiKey: string;
  rolled: ApiKey;
}

/**
 * Stripe-style roll: a new key with the same settings and the same credit pool; the old one
 * keeps working (and spending from that pool) until the grace deadline (0 = revoked at once),
 * and is retired: it can never be reactivated. Atomic: of two concurrent rolls of a key, one
 * wins and the other gets a conflict.
 */
export async function roll(
  ctx: KeysContext,
  clientId: string,
  keyId: string,
  actor: Actor,
  gracePeriodSeconds = 86_400,
): Promise<RollResult> {
  const old = await mustFind(ctx, clientId, keyId);
  const now = ctx.clock.now();
  assertRollable(old, now);
  const { row, apiKey } = successorOf(ctx, old, now);
  const oldPatch = retiredPatch(old, row.id, now, gracePeriodSeconds);
  const rolledRow: KeysTable = { ...old, ...oldPatch };
  const iso = now.toISOString();
  const claimed = await ctx.keysStore.roll(
    clientId,
    keyId,
    oldPatch,
    row,
    ctx.events.inTx({
      type: 'key.rolled',
      clientId,
      data: {
        key: keySummary(rolledRow),
        newKey: keySummary(row),
        gracePeriodSeconds,
        oldKeyExpiresAt: rolledRow.status === 'revoked' ? iso : rolledRow.expires_at,
      },
    }),
  );
  if (!claimed) {
    throw new AppError(
      'conflict',
      `key ${keyId} changed meanwhile (rolled or revoked): not rolled`,
    );
  }
  await ctx.publish('key', keyId, clientId);
  await ctx.audit.record({
    actor,
    action: 'key.rolled',
    targetType: 'key',
    targetId: keyId,
    clientId,
    data: { newKeyId: row.id, gracePeriodSeconds },
  });
  return {
    key: toApiKey(await mustFind(ctx, clientId, row.id)),
    apiKey,
    rolled: toApiKey(await mustFind(ctx, clientId, keyId)),
  };
}

/** The new key: the old one's settings and credit pool, a new secret. */
function successorOf(ctx: KeysContext, old: KeyRow, now: Date) {
  const s = toApiKey(old);
  return buildKeyRow(
    ctx.keyPrefix,
    old.client_id,
    {
      name: s.name ?? undefined,
      description: s.description ?? undefined,
      environment: s.environment,
      scopes: s.scopes,
      ipAllowlist: s.ipAllowlist,
      expiresAt: s.expiresAt ?? undefined,
      rateLimit: s.rateLimit ?? undefined,
      meta: s.meta,
    },
    now,
    old.credit_pool_id,
  );
}

/** The old key retired: revoked at once without grace, else expiring at the grace deadline. */
function retiredPatch(
  old: KeyRow,
  successorId: string,
  now: Date,
  gracePeriodSeconds: number,
): Partial<KeysTable> {
  const iso = now.toISOString();
  const graceEnd = new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString();
  const retired = { rolled_to: successorId, retired_at: iso, updated_at: iso };
  return gracePeriodSeconds === 0
    ? { ...retired, status: 'revoked', revoked_at: iso, revoked_reason: 'rolled' }
    : {
        ...retired,
        expires_at: old.expires_at && old.expires_at < graceEnd ? old.expires_at : graceEnd,
      };
}

/** Only a live key that was not rolled yet can be rolled: one successor per key. */
function assertRollable(old: KeyRow, now: Date): void {
  if (old.rolled_to) {
    throw new AppError('conflict', `key ${old.id} was already rolled (to ${old.rolled_to})`);
  }
  if (old.status !== 'active' || old.retired_at) {
    throw new AppError('conflict', 'only an active key can be rolled');
  }
  if (old.expires_at && Date.parse(old.expires_at) <= now.getTime()) {
    throw new AppError('conflict', 'an expired key cannot be rolled');
  }
}
