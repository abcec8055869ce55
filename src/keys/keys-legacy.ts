import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { toApiKey } from './key-rows.ts';
import { mustClient, type KeysContext } from './keys-context.ts';
import type { ApiKey } from './keys-types.ts';
import { legacyKeyRow, type LegacyKeyInput } from './legacy-keys-fns.ts';

/** Keys another system issued, stored by their hash (src/import/), and the operator's view of them. */
export function createLegacyKeys(ctx: KeysContext) {
  return {
    legacySummary: () => legacySummary(ctx),
    importLegacy: (clientId: string, input: LegacyKeyInput, actor: Actor) =>
      importLegacy(ctx, clientId, input, actor),
  };
}

/**
 * The operator's view of imported legacy keys: how many exist, how many are still active,
 * and how many of those were used in the last 30 days (the ones to retire by rolling).
 */
async function legacySummary(
  ctx: KeysContext,
): Promise<{ total: number; active: number; usedLast30Days: number }> {
  const since = new Date(ctx.clock.nowMs() - 30 * 24 * 3600_000).toISOString();
  const [counts, used] = await Promise.all([
    ctx.keysStore.countLegacy(),
    ctx.keysStore.countLegacyUsedSince(since),
  ]);
  return { ...counts, usedLast30Days: used };
}

/**
 * Stores a key another system issued, by its hash. It verifies like any key; a conflict when a
 * key with this hash exists already (the import's idempotency).
 */
async function importLegacy(
  ctx: KeysContext,
  clientId: string,
  input: LegacyKeyInput,
  actor: Actor,
): Promise<ApiKey> {
  await mustClient(ctx, clientId);
  const row = legacyKeyRow(clientId, input, ctx.clock.now());
  if (await ctx.keysStore.findByHash(row.key_hash)) {
    throw new AppError('conflict', 'a key with this hash exists already');
  }
  await ctx.keysStore.insert(row);
  await ctx.publish('key', row.id, clientId);
  await ctx.audit.record({
    actor,
    action: 'key.imported',
    targetType: 'key',
    targetId: row.id,
    clientId,
    data: { start: row.start, environment: row.environment, status: row.status },
  });
  return toApiKey({
    ...row,
    credits_remaining: null,
    refill_interval: null,
    refill_amount: null,
    refilled_at: null,
  });
}
