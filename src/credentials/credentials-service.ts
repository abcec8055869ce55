import type { Actor } from '../audit/index.ts';
import { createCredentialsAdmin } from './credentials-admin.ts';
import {
  announce,
  createCredentialsContext,
  type CredentialsServiceDeps,
} from './credentials-context.ts';
import { createKeyMaintenance } from './credentials-keyring.ts';
import { createCredentialsReads } from './credentials-reads.ts';
import { resolve, type ResolveInput } from './credentials-resolve.ts';
import type { Provider } from './credentials-types.ts';
import { verify } from './credentials-verification.ts';

export type { CredentialsServiceDeps } from './credentials-context.ts';
export type { ResolveInput } from './credentials-resolve.ts';
export type { ProviderSettings } from './credentials-verifier.ts';

/**
 * The credentials vault: write-only secrets, metadata out, envelope encryption, provider
 * verification, policy-aware resolution for workers, and an audit event for every access.
 * Composed of its ideas over one CredentialsContext: storing and changing (credentials-admin),
 * reading metadata (credentials-reads), verifying (credentials-verification), resolving
 * (credentials-resolve, the hot path) and master-key maintenance (credentials-keyring).
 */
export function createCredentialsService(deps: CredentialsServiceDeps) {
  const ctx = createCredentialsContext(deps);
  const maintenance = createKeyMaintenance({
    store: ctx.store,
    keyring: deps.keyring,
    metaStore: deps.metaStore,
    audit: ctx.audit,
    onRewrapped: (owner, id) => announce(ctx, owner, id),
  });
  return {
    ...createCredentialsAdmin(ctx),
    ...createCredentialsReads(ctx),
    verify: (owner: string, id: string, actor: Actor) => verify(ctx, owner, id, actor),
    resolve: (input: ResolveInput, actor: Actor) => resolve(ctx, input, actor),
    rewrap: maintenance.rewrap,
    checkKeyring: maintenance.checkKeyring,
    /** Writes pending use counts now (they also go out within usageFlushMs, and on close). */
    flushUsage: ctx.uses.flush,
    async close(): Promise<void> {
      ctx.cache.close();
      await ctx.uses.flush();
    },
    /** For tests and /readyz-style reporting: a provider's circuit state. */
    circuitState: (provider: Provider) => ctx.verifier.circuitState(provider),
  };
}

export type CredentialsService = ReturnType<typeof createCredentialsService>;
