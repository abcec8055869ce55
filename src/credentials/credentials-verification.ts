import type { Actor } from '../audit/index.ts';
import {
  announce,
  auditClientId,
  mustBeLive,
  mustFind,
  openOrFail,
  view,
  type CredentialsContext,
} from './credentials-context.ts';
import type { Credential, CredentialsTable } from './credentials-types.ts';
import type { Verification } from './credentials-verifier.ts';
import { providerSpec } from './providers/index.ts';

/**
 * Checks a stored credential against its provider (the verifier's retries and circuit), keeps
 * the verdict, raises `credential.verification_failed` with it when it failed, and audits it.
 */
export async function verify(
  ctx: CredentialsContext,
  owner: string,
  id: string,
  actor: Actor,
): Promise<{ credential: Credential; verification: Verification }> {
  const row = await mustFind(ctx, owner, id);
  mustBeLive(row);
  const spec = providerSpec(row.provider);
  const fields = await openOrFail(ctx, row, actor, 'verify');
  const verification = await ctx.verifier.verify(spec, fields);
  const patch: Partial<CredentialsTable> = {
    verify_status: verification.status,
    verify_message: verification.message,
  };
  if (verification.status === 'verified' || verification.status === 'rejected') {
    patch.is_verified = verification.status === 'verified' ? 1 : 0;
    patch.last_verified_at = verification.checkedAt;
  }
  const failed = verification.status === 'rejected' || verification.status === 'unreachable';
  const emit = ctx.deps.emit;
  await ctx.store.update(
    owner,
    id,
    patch,
    failed && emit
      ? (trx) =>
          emit(trx, {
            type: 'credential.verification_failed',
            clientId: auditClientId(owner),
            data: {
              credential: {
                id,
                clientId: auditClientId(owner),
                name: row.name,
                provider: row.provider,
              },
              status: verification.status,
              message: verification.message,
              attempts: verification.attempts,
              checkedAt: verification.checkedAt,
            },
          })
      : undefined,
  );
  // Verified credentials win resolution: the choice may have changed.
  await announce(ctx, owner, id);
  const ok = verification.status === 'verified';
  await ctx.audit.record({
    actor,
    action: ok ? 'credential.verified' : 'credential.failed',
    targetType: 'credential',
    targetId: id,
    clientId: auditClientId(owner),
    data: {
      operation: 'verify',
      provider: row.provider,
      outcome: verification.status,
      attempts: verification.attempts,
      ...(!ok && { reason: verification.message }),
    },
  });
  return { credential: view(ctx, await mustFind(ctx, owner, id)), verification };
}
