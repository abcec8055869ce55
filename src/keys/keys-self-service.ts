import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import type { CreateKeyInput } from './keys-input.ts';
import { get, type KeysContext } from './keys-context.ts';
import { excessPowers, type KeyPowers } from './keys-fns.ts';
import { create } from './keys-manage.ts';
import { roll } from './keys-roll.ts';
import type { ApiKey, AuthContext } from './keys-types.ts';

/**
 * The rules for a client's own keys (POST /v1/keys and its roll): a key may hand on no more
 * than it has itself.
 */
export function createKeySelfService(ctx: KeysContext) {
  return {
    createOwn: (auth: AuthContext, input: CreateKeyInput, actor: Actor) =>
      createOwn(ctx, auth, input, actor),
    rollOwn: (auth: AuthContext, keyId: string, actor: Actor, gracePeriodSeconds?: number) =>
      rollOwn(ctx, auth, keyId, actor, gracePeriodSeconds),
    assertMayRoll: (auth: AuthContext, keyId: string) => assertMayRoll(ctx, auth, keyId),
  };
}

function powersOf(k: ApiKey): KeyPowers {
  return {
    scopes: k.scopes,
    ipAllowlist: k.ipAllowlist,
    expiresAt: k.expiresAt,
    rateLimit: k.rateLimit,
    limitedCredits: k.credits !== null,
  };
}

/** The calling key's own record: what it may hand on (self-service). */
async function mustNotExceed(ctx: KeysContext, auth: AuthContext, child: KeyPowers): Promise<void> {
  const parent = powersOf(await get(ctx, auth.clientId, auth.keyId));
  const excess = excessPowers(parent, child);
  if (excess.length) {
    throw new AppError('insufficient_scope', `this key cannot hand out ${excess.join('; ')}`);
  }
}

/** The calling key may be handed keyId's secret (a roll, a leak's replacement): not worth more. */
async function assertMayRoll(ctx: KeysContext, auth: AuthContext, keyId: string): Promise<void> {
  await mustNotExceed(ctx, auth, powersOf(await get(ctx, auth.clientId, keyId)));
}

/**
 * Self-service creation (POST /v1/keys): what the body leaves out is inherited from the
 * calling key (rate limit, expiry, IP allowlist), and nothing may exceed it.
 */
async function createOwn(ctx: KeysContext, auth: AuthContext, input: CreateKeyInput, actor: Actor) {
  const parent = await get(ctx, auth.clientId, auth.keyId);
  const expiresAt =
    input.expiresAt ??
    (input.expiresInSeconds
      ? new Date(ctx.clock.now().getTime() + input.expiresInSeconds * 1000).toISOString()
      : (parent.expiresAt ?? undefined));
  const filled: CreateKeyInput = {
    ...input,
    expiresInSeconds: undefined,
    expiresAt,
    rateLimit: input.rateLimit ?? parent.rateLimit ?? undefined,
    ipAllowlist: input.ipAllowlist?.length ? input.ipAllowlist : parent.ipAllowlist,
  };
  await mustNotExceed(ctx, auth, {
    scopes: filled.scopes ?? [],
    ipAllowlist: filled.ipAllowlist ?? [],
    expiresAt: filled.expiresAt ? new Date(filled.expiresAt).toISOString() : null,
    rateLimit: filled.rateLimit ?? null,
    limitedCredits: filled.credits !== undefined,
  });
  return create(ctx, auth.clientId, filled, actor);
}

/**
 * Self-service roll (POST /v1/keys/:id/roll): rolling hands the caller the rolled key's new
 * secret, so the rolled key's powers may not exceed the caller's.
 */
async function rollOwn(
  ctx: KeysContext,
  auth: AuthContext,
  keyId: string,
  actor: Actor,
  gracePeriodSeconds?: number,
) {
  await assertMayRoll(ctx, auth, keyId);
  return roll(ctx, auth.clientId, keyId, actor, gracePeriodSeconds);
}
