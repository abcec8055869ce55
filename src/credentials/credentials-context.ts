import type { Actor, AuditService } from '../audit/index.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import type { MetaStore } from '../store/meta-store.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import { createSecretCache, type SecretCache } from './credentials-cache.ts';
import { openCredential, sealCredential, VaultCryptoError } from './credentials-crypto.ts';
import { toCredential } from './credentials-fns.ts';
import type { CredentialsStore } from './credentials-store.ts';
import {
  PLATFORM_OWNER,
  type Credential,
  type CredentialsTable,
  type Policy,
  type Provider,
  type SecretFields,
} from './credentials-types.ts';
import { createUseLedger, USAGE_FLUSH_MS, type UseLedger } from './credentials-usage.ts';
import { createVerifier, type ProviderSettings } from './credentials-verifier.ts';

export interface CredentialsServiceDeps {
  credentialsStore: CredentialsStore;
  metaStore: MetaStore;
  audit: AuditService;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  /** config.providers: base URLs, policies, timeouts, retries. */
  providers: Record<string, ProviderSettings>;
  /**
   * Development mode only (seed 04): where a missing provider key may be read from. Production
   * passes null, so this service cannot read provider keys from the environment at all.
   */
  environment: Record<string, string | undefined> | null;
  /** A client's status, null when unknown (clients.snapshot). */
  getClient: (clientId: string) => Promise<{ status: string } | null>;
  fetch?: typeof fetch;
  /** Bounded delay before use counts and `credential.used` entries reach the store. */
  usageFlushMs?: number;
  /** Evicts opened secrets on every node (credential and client changes). */
  changes?: ChangeFeed;
  /** Opened-secret cache: lifetime and size (0 turns it off). */
  secretCacheTtlMs?: number;
  secretCacheMax?: number;
  /** The webhooks outbox: credential.verification_failed commits with the verification's result. */
  emit?: EmitEvent;
}

/**
 * What every part of the vault shares: its dependencies, the use ledger (counts in memory,
 * written in batches), the opened-secret cache and the provider verifier.
 */
export interface CredentialsContext {
  deps: CredentialsServiceDeps;
  store: CredentialsStore;
  audit: AuditService;
  clock: Clock;
  uses: UseLedger;
  cache: SecretCache;
  verifier: ReturnType<typeof createVerifier>;
}

export function createCredentialsContext(deps: CredentialsServiceDeps): CredentialsContext {
  const { credentialsStore: store, audit, clock, logger } = deps;
  return {
    deps,
    store,
    audit,
    clock,
    uses: createUseLedger({ store, audit, logger, flushMs: deps.usageFlushMs ?? USAGE_FLUSH_MS }),
    cache: createSecretCache({
      clock,
      changes: deps.changes,
      ttlMs: deps.secretCacheTtlMs,
      max: deps.secretCacheMax,
    }),
    verifier: createVerifier({
      providers: deps.providers,
      clock,
      fetch: deps.fetch ?? globalThis.fetch,
    }),
  };
}

/** Tells this node's cache at once and every other node within 1 s (the change feed). */
export async function announce(ctx: CredentialsContext, owner: string, id: string): Promise<void> {
  const event = { kind: 'credential' as const, id, clientId: owner };
  if (ctx.deps.changes) await ctx.deps.changes.publish(event);
  else ctx.cache.evict(event);
}

/** A row as the API shows it: the use counts still pending in memory included. */
export function view(ctx: CredentialsContext, row: CredentialsTable): Credential {
  return toCredential(row, ctx.uses.pendingFor(row.client_id, row.id));
}

export function policyOf(ctx: CredentialsContext, provider: Provider): Policy {
  return ctx.deps.providers[provider]?.policy ?? 'byok';
}

export async function mustFind(
  ctx: CredentialsContext,
  owner: string,
  id: string,
): Promise<CredentialsTable> {
  const row = await ctx.store.find(owner, id);
  if (!row) throw new AppError('not_found', 'credential not found');
  return row;
}

export function mustBeLive(row: CredentialsTable) {
  if (row.deleted_at) throw new AppError('conflict', 'credential was deleted');
}

export async function mustBeClient(
  ctx: CredentialsContext,
  clientId: string,
): Promise<{ status: string }> {
  const c = await ctx.deps.getClient(clientId);
  if (!c || c.status === 'deleted') throw new AppError('not_found', 'client not found');
  return c;
}

/** The audit log's client id for an owner: the operator's own credentials belong to none. */
export const auditClientId = (owner: string) => (owner === PLATFORM_OWNER ? null : owner);

export function seal(ctx: CredentialsContext, owner: string, id: string, fields: SecretFields) {
  return sealCredential(
    ctx.deps.keyring,
    { credentialId: id, ownerId: owner },
    Buffer.from(JSON.stringify(fields), 'utf8'),
  );
}

function open(ctx: CredentialsContext, row: CredentialsTable): SecretFields {
  const plain = openCredential(
    ctx.deps.keyring,
    { credentialId: row.id, ownerId: row.client_id },
    { secret: row.secret, wrappedKey: row.wrapped_key, masterKeyId: row.master_key_id },
  );
  try {
    return JSON.parse(plain.toString('utf8')) as SecretFields;
  } finally {
    plain.fill(0);
  }
}

/** Opens or fails loudly: a credential that cannot open is an integrity problem, audited. */
export async function openOrFail(
  ctx: CredentialsContext,
  row: CredentialsTable,
  actor: Actor,
  operation: string,
): Promise<SecretFields> {
  try {
    return open(ctx, row);
  } catch (err) {
    if (!(err instanceof VaultCryptoError)) throw err;
    await ctx.audit.record({
      actor,
      action: 'credential.failed',
      targetType: 'credential',
      targetId: row.id,
      clientId: auditClientId(row.client_id),
      data: { operation, provider: row.provider, reason: err.message },
    });
    throw new AppError('internal_error', `credential ${row.id} cannot be opened: ${err.message}`);
  }
}

/** Runs the input checks in `fn`; a validation failure is audited before it is thrown. */
export async function validated<T>(
  ctx: CredentialsContext,
  fn: () => T,
  at: { owner: string; actor: Actor; operation: string; id?: string },
): Promise<T> {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AppError && err.code === 'validation_failed') {
      await ctx.audit.record({
        actor: at.actor,
        action: 'credential.failed',
        targetType: 'credential',
        targetId: at.id ?? null,
        clientId: auditClientId(at.owner),
        data: { operation: at.operation, reason: 'validation', field: err.context?.field },
      });
    }
    throw err;
  }
}
