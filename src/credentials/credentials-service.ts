import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { EmitEvent } from '../webhooks/webhooks-service.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { Clock } from '../lib/clock.ts';
import { isoOf } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { MetaStore } from '../store/meta-store.ts';
import { isUniqueViolation } from '../store/store-errors.ts';
import { openCredential, sealCredential, VaultCryptoError } from './credentials-crypto.ts';
import { createKeyMaintenance } from './credentials-keyring.ts';
import { createSecretCache, type CachedSecret } from './credentials-cache.ts';
import { createUseLedger, USAGE_FLUSH_MS, type Use } from './credentials-usage.ts';
import {
  createVerifier,
  type ProviderSettings,
  type Verification,
} from './credentials-verifier.ts';
import {
  checkName,
  clientViewOfTrailEntry,
  toCredential,
  type TrailEntry,
} from './credentials-fns.ts';
import type { CredentialsStore } from './credentials-store.ts';
import {
  CREDENTIAL_TYPES,
  PERMISSIONS,
  PLATFORM_OWNER,
  type CreateCredentialInput,
  type Credential,
  type CredentialSummary,
  type ImportCredentialInput,
  type CredentialsTable,
  type Policy,
  type Provider,
  type ResolvedCredential,
  type SecretFields,
  type UpdateCredentialInput,
} from './credentials-types.ts';
import { providerSpec, secretFromEnvironment, validateSecret } from './providers/index.ts';
import { byId, readPage } from '../lib/page.ts';
import { checkEnum } from '../lib/check.ts';

export type { ProviderSettings } from './credentials-verifier.ts';

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

/** A resolve request: whose secret, for which provider; `requestId` names the call in the audit entry. */
export interface ResolveInput {
  clientId: string;
  provider: string;
  credentialId?: string;
  requestId?: string;
}

/**
 * The credentials vault: write-only secrets, metadata out, envelope encryption, provider
 * verification, policy-aware resolution for workers, and an audit event for every access.
 */
export function createCredentialsService(deps: CredentialsServiceDeps) {
  const { credentialsStore: store, audit, keyring, clock, logger } = deps;
  const uses = createUseLedger({
    store,
    audit,
    logger,
    flushMs: deps.usageFlushMs ?? USAGE_FLUSH_MS,
  });
  const cache = createSecretCache({
    clock,
    changes: deps.changes,
    ttlMs: deps.secretCacheTtlMs,
    max: deps.secretCacheMax,
  });
  const verifier = createVerifier({
    providers: deps.providers,
    clock,
    fetch: deps.fetch ?? globalThis.fetch,
  });
  const maintenance = createKeyMaintenance({
    store,
    keyring,
    metaStore: deps.metaStore,
    audit,
    onRewrapped: (owner, id) => announce(owner, id),
  });

  /** Tells this node's cache at once and every other node within 1 s (the change feed). */
  async function announce(owner: string, id: string): Promise<void> {
    const event = { kind: 'credential' as const, id, clientId: owner };
    if (deps.changes) await deps.changes.publish(event);
    else cache.evict(event);
  }

  // ---- use counters: counted in memory, written in batches ----
  function view(row: CredentialsTable): Credential {
    return toCredential(row, uses.pendingFor(row.client_id, row.id));
  }

  // ---- helpers ----

  function settings(provider: Provider): ProviderSettings {
    return deps.providers[provider] ?? {};
  }

  function policyOf(provider: Provider): Policy {
    return settings(provider).policy ?? 'byok';
  }

  async function mustFind(owner: string, id: string): Promise<CredentialsTable> {
    const row = await store.find(owner, id);
    if (!row) throw new AppError('not_found', 'credential not found');
    return row;
  }

  function mustBeLive(row: CredentialsTable) {
    if (row.deleted_at) throw new AppError('conflict', 'credential was deleted');
  }

  async function mustBeClient(clientId: string): Promise<{ status: string }> {
    const c = await deps.getClient(clientId);
    if (!c || c.status === 'deleted') throw new AppError('not_found', 'client not found');
    return c;
  }

  const auditClientId = (owner: string) => (owner === PLATFORM_OWNER ? null : owner);

  function seal(owner: string, id: string, fields: SecretFields) {
    return sealCredential(
      keyring,
      { credentialId: id, ownerId: owner },
      Buffer.from(JSON.stringify(fields), 'utf8'),
    );
  }

  function open(row: CredentialsTable): SecretFields {
    const plain = openCredential(
      keyring,
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
  async function openOrFail(row: CredentialsTable, actor: Actor, operation: string) {
    try {
      return open(row);
    } catch (err) {
      if (!(err instanceof VaultCryptoError)) throw err;
      await audit.record({
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

  async function validated<T>(
    fn: () => T,
    ctx: { owner: string; actor: Actor; operation: string; id?: string },
  ): Promise<T> {
    try {
      return fn();
    } catch (err) {
      if (err instanceof AppError && err.code === 'validation_failed') {
        await audit.record({
          actor: ctx.actor,
          action: 'credential.failed',
          targetType: 'credential',
          targetId: ctx.id ?? null,
          clientId: auditClientId(ctx.owner),
          data: { operation: ctx.operation, reason: 'validation', field: err.context?.field },
        });
      }
      throw err;
    }
  }

  // ---- resolution ----

  /** Counts the use (in memory: the ledger writes it within the flush interval) and answers. */
  function handOut(c: CachedSecret, actor: Actor, requestId?: string): ResolvedCredential {
    uses.record({
      owner: c.owner,
      credentialId: c.credentialId,
      clientId: c.clientId,
      provider: c.provider,
      source: c.source,
      policy: c.policy,
      actor,
      requestId: requestId ?? null,
      at: isoOf(clock.nowMs()),
    });
    return {
      provider: c.provider as Provider,
      policy: c.policy as Policy,
      source: c.source,
      credentialId: c.credentialId,
      credentials: c.credentials as SecretFields,
    };
  }

  /** The credential the policy picks, opened; null when there is none to use. */
  async function findForResolve(
    input: ResolveInput,
    provider: Provider,
    policy: Policy,
    actor: Actor,
  ): Promise<Omit<CachedSecret, 'expiresAt'> | null> {
    const owners: Array<{ owner: string; source: 'byok' | 'platform' }> = [];
    if (policy !== 'platform') owners.push({ owner: input.clientId, source: 'byok' });
    if (policy !== 'byok') owners.push({ owner: PLATFORM_OWNER, source: 'platform' });
    for (const { owner, source } of owners) {
      let row: CredentialsTable | undefined;
      if (input.credentialId && source === 'byok') {
        row = await store.find(owner, input.credentialId);
        if (!row || row.provider !== provider)
          throw new AppError('not_found', 'credential not found');
        if (!row.is_active || row.deleted_at) {
          throw new AppError('conflict', 'credential is not active');
        }
      } else {
        row = (await store.findActive(owner, provider))[0];
      }
      if (!row) continue;
      const fields = Object.freeze(await openOrFail(row, actor, 'resolve'));
      return {
        clientId: input.clientId,
        provider,
        policy,
        source,
        owner,
        credentialId: row.id,
        credentials: fields,
      };
    }
    return null;
  }

  /** Development mode only: a provider key from the environment, logged by variable name. */
  function fromEnvironment(input: ResolveInput) {
    const provider = providerSpec(input.provider).name;
    const policy = policyOf(provider);
    const found = secretFromEnvironment(provider, deps.environment!);
    if (!found) return null;
    logger.info(
      { clientId: input.clientId, provider, variables: found.variables },
      `[development] no stored ${provider} credential for this client: using ${found.variables.join(', ')} from the environment (production never does this)`,
    );
    const use: Omit<Use, 'actor' | 'requestId'> = {
      owner: input.clientId,
      credentialId: null,
      clientId: input.clientId,
      provider,
      source: 'environment',
      policy,
      at: isoOf(clock.nowMs()),
      variables: found.variables,
    };
    const resolved: ResolvedCredential = {
      provider,
      policy,
      source: 'environment',
      credentialId: null,
      credentials: found.fields,
    };
    return { use, resolved };
  }

  const service = {
    async create(owner: string, input: CreateCredentialInput, actor: Actor): Promise<Credential> {
      const v = await validated(
        () => {
          const spec = providerSpec(input.provider);
          return {
            spec,
            name: checkName(input.credentialName),
            type: checkEnum(
              'credentialType',
              input.credentialType,
              CREDENTIAL_TYPES,
              spec.defaultType,
            ),
            permissions: checkEnum('permissions', input.permissions, PERMISSIONS, 'read_only'),
            fields: validateSecret(spec.name, input.credentials),
          };
        },
        { owner, actor, operation: 'create' },
      );
      if (owner !== PLATFORM_OWNER) await mustBeClient(owner);
      const now = clock.now();
      const iso = now.toISOString();
      const id = newId('cred', now.getTime());
      const sealed = seal(owner, id, v.fields);
      const row: CredentialsTable = {
        id,
        client_id: owner,
        provider: v.spec.name,
        name: v.name,
        active_name: v.name,
        type: v.type,
        permissions: v.permissions,
        fields: JSON.stringify(Object.keys(v.fields)),
        secret: sealed.secret,
        wrapped_key: sealed.wrappedKey,
        master_key_id: sealed.masterKeyId,
        is_active: 1,
        is_verified: 0,
        last_verified_at: null,
        verify_status: null,
        verify_message: null,
        last_used_at: null,
        usage_count: 0,
        created_at: iso,
        updated_at: iso,
        deleted_at: null,
      };
      try {
        await store.insert(row);
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new AppError(
            'conflict',
            `a ${v.spec.name} credential named "${v.name}" already exists`,
          );
        }
        throw err;
      }
      await announce(owner, id);
      await audit.record({
        actor,
        action: 'credential.created',
        targetType: 'credential',
        targetId: id,
        clientId: auditClientId(owner),
        data: {
          provider: row.provider,
          name: row.name,
          type: row.type,
          permissions: row.permissions,
          fields: Object.keys(v.fields),
          masterKeyId: sealed.masterKeyId,
        },
      });
      return view(row);
    },

    /**
     * Import (issue 20): another vault's secret sealed here under a fresh data key, keeping its
     * name, provider, type, permissions, verification state and use counters. Audited as
     * `credential.imported` (with where it came from, never the secret).
     */
    async importCredential(
      owner: string,
      input: ImportCredentialInput,
      actor: Actor,
    ): Promise<Credential> {
      const spec = providerSpec(input.provider);
      const name = checkName(input.credentialName);
      const type = checkEnum(
        'credentialType',
        input.credentialType,
        CREDENTIAL_TYPES,
        spec.defaultType,
      );
      const permissions = checkEnum('permissions', input.permissions, PERMISSIONS, 'read_only');
      const fields = validateSecret(spec.name, input.credentials);
      await mustBeClient(owner);
      const now = clock.now().toISOString();
      const createdAt = input.createdAt ?? now;
      const id = newId('cred', Date.parse(createdAt));
      const sealed = seal(owner, id, fields);
      const row: CredentialsTable = {
        id,
        client_id: owner,
        provider: spec.name,
        name,
        active_name: name,
        type,
        permissions,
        fields: JSON.stringify(Object.keys(fields)),
        secret: sealed.secret,
        wrapped_key: sealed.wrappedKey,
        master_key_id: sealed.masterKeyId,
        is_active: input.isActive ? 1 : 0,
        is_verified: input.isVerified ? 1 : 0,
        last_verified_at: input.lastVerifiedAt,
        verify_status: input.isVerified ? 'verified' : null,
        verify_message: input.isVerified ? 'verified before the import' : null,
        last_used_at: input.lastUsedAt,
        usage_count: input.usageCount,
        created_at: createdAt,
        updated_at: input.updatedAt ?? now,
        deleted_at: null,
      };
      try {
        await store.insert(row);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        throw new AppError('conflict', `a ${spec.name} credential named "${name}" already exists`);
      }
      await announce(owner, id);
      await audit.record({
        actor,
        action: 'credential.imported',
        targetType: 'credential',
        targetId: id,
        clientId: auditClientId(owner),
        data: {
          provider: row.provider,
          name,
          type,
          permissions,
          fields: Object.keys(fields),
          masterKeyId: sealed.masterKeyId,
          ...input.origin,
        },
      });
      return view(row);
    },

    async get(owner: string, id: string): Promise<Credential> {
      return view(await mustFind(owner, id));
    },

    async list(
      owner: string,
      opts: { provider?: string; includeDeleted?: boolean; limit?: number; cursor?: string } = {},
    ): Promise<{ data: Credential[]; nextCursor: string | null }> {
      return readPage(
        opts,
        (limit) => store.list(owner, { ...opts, limit }),
        (rows) => rows.map(view),
        byId,
      );
    },

    async update(
      owner: string,
      id: string,
      input: UpdateCredentialInput,
      actor: Actor,
    ): Promise<Credential> {
      const row = await mustFind(owner, id);
      mustBeLive(row);
      const patch: Partial<CredentialsTable> = {};
      const changed: string[] = [];
      await validated(
        () => {
          if (input.credentialName !== undefined) {
            patch.name = patch.active_name = checkName(input.credentialName);
            changed.push('name');
          }
          if (input.credentialType !== undefined) {
            patch.type = checkEnum(
              'credentialType',
              input.credentialType,
              CREDENTIAL_TYPES,
              row.type,
            );
            changed.push('type');
          }
          if (input.permissions !== undefined) {
            patch.permissions = checkEnum(
              'permissions',
              input.permissions,
              PERMISSIONS,
              row.permissions,
            );
            changed.push('permissions');
          }
          if (input.isActive !== undefined) {
            patch.is_active = input.isActive ? 1 : 0;
            changed.push('isActive');
          }
          if (input.credentials !== undefined) {
            const fields = validateSecret(row.provider as Provider, input.credentials);
            // A new secret gets a new data key, and its verification starts over.
            const sealed = seal(owner, id, fields);
            Object.assign(patch, {
              secret: sealed.secret,
              wrapped_key: sealed.wrappedKey,
              master_key_id: sealed.masterKeyId,
              fields: JSON.stringify(Object.keys(fields)),
              is_verified: 0,
              last_verified_at: null,
              verify_status: null,
              verify_message: null,
            });
            changed.push('credentials');
          }
        },
        { owner, actor, operation: 'update', id },
      );
      if (!changed.length) return view(row);
      patch.updated_at = clock.now().toISOString();
      try {
        if (!(await store.update(owner, id, patch)))
          throw new AppError('conflict', 'credential was deleted');
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new AppError(
            'conflict',
            `a ${row.provider} credential named "${patch.name}" already exists`,
          );
        }
        throw err;
      }
      await announce(owner, id);
      await audit.record({
        actor,
        action: 'credential.updated',
        targetType: 'credential',
        targetId: id,
        clientId: auditClientId(owner),
        data: { provider: row.provider, changed, ...(patch.name && { name: patch.name }) },
      });
      return view(await mustFind(owner, id));
    },

    /** Soft delete: the row stays (metadata, audit trail); its data key is shredded. */
    async remove(owner: string, id: string, actor: Actor): Promise<Credential> {
      const row = await mustFind(owner, id);
      if (row.deleted_at) return view(row);
      // Uses before the deletion are written before it: the trail stays in order.
      await uses.flush();
      const at = clock.now().toISOString();
      if (await store.softDelete(owner, id, at)) {
        await announce(owner, id);
        await audit.record({
          actor,
          action: 'credential.deleted',
          targetType: 'credential',
          targetId: id,
          clientId: auditClientId(owner),
          data: { provider: row.provider, name: row.name, dataKeyShredded: true },
        });
      }
      return view(await mustFind(owner, id));
    },

    /** The client was deleted: every credential it had is deleted and shredded. */
    async removeAllFor(clientId: string, actor: Actor): Promise<number> {
      await uses.flush();
      const ids = await store.softDeleteAll(clientId, clock.now().toISOString());
      for (const id of ids) {
        await announce(clientId, id);
        await audit.record({
          actor,
          action: 'credential.deleted',
          targetType: 'credential',
          targetId: id,
          clientId,
          data: { reason: 'client deleted', dataKeyShredded: true },
        });
      }
      return ids.length;
    },

    async verify(
      owner: string,
      id: string,
      actor: Actor,
    ): Promise<{ credential: Credential; verification: Verification }> {
      const row = await mustFind(owner, id);
      mustBeLive(row);
      const spec = providerSpec(row.provider);
      const fields = await openOrFail(row, actor, 'verify');
      const verification = await verifier.verify(spec, fields);
      const patch: Partial<CredentialsTable> = {
        verify_status: verification.status,
        verify_message: verification.message,
      };
      if (verification.status === 'verified' || verification.status === 'rejected') {
        patch.is_verified = verification.status === 'verified' ? 1 : 0;
        patch.last_verified_at = verification.checkedAt;
      }
      const failed = verification.status === 'rejected' || verification.status === 'unreachable';
      const emit = deps.emit;
      await store.update(
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
      await announce(owner, id);
      const ok = verification.status === 'verified';
      await audit.record({
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
      return { credential: view(await mustFind(owner, id)), verification };
    },

    async summary(clientId: string): Promise<CredentialSummary> {
      const rows = await store.summary(clientId);
      const providers: CredentialSummary['providers'] = {};
      let total = 0;
      for (const r of rows) {
        providers[r.provider] = { total: r.total, active: r.active, verified: r.verified };
        total += r.total;
      }
      return { clientId, totalCredentials: total, providers };
    },

    /**
     * A credential's own audit trail (also after deletion). The `client` view hides who the
     * operator is (see clientViewOfTrailEntry); the `operator` view shows every detail.
     */
    async auditTrail(
      owner: string,
      id: string,
      opts: { limit?: number; cursor?: string } = {},
      view: 'client' | 'operator' = 'operator',
    ): Promise<{ data: TrailEntry[]; nextCursor: string | null }> {
      await mustFind(owner, id);
      const cursor = opts.cursor !== undefined ? Number(opts.cursor) : undefined;
      if (cursor !== undefined && !Number.isInteger(cursor)) {
        throw new AppError('validation_failed', 'cursor: not a cursor from this list');
      }
      const page = await audit.list({
        clientId: owner === PLATFORM_OWNER ? undefined : owner,
        targetId: id,
        limit: opts.limit,
        cursor,
      });
      const data = page.data.map((e): TrailEntry => ({
        id: e.id,
        createdAt: e.createdAt,
        action: e.action,
        actorType: e.actorType,
        actorId: e.actorId,
        ip: e.ip,
        data: e.data,
      }));
      return {
        data: view === 'client' ? data.map(clientViewOfTrailEntry) : data,
        nextCursor: page.nextCursor,
      };
    },

    /**
     * For workers and the proxy: the secret to use for a client and provider, following the
     * provider's policy. Every use is accounted (`usageCount`, and a `credential.used` entry per
     * credential and actor per flush interval); every refusal is audited (`credential.failed`).
     * A hot resolution comes from the opened-secret cache: no store read, no decrypt, no write.
     */
    async resolve(input: ResolveInput, actor: Actor): Promise<ResolvedCredential> {
      const key = cache.key(input.clientId, input.provider, input.credentialId);
      const hit = cache.get(key);
      if (hit) return handOut(hit, actor, input.requestId);
      const spec = providerSpec(input.provider);
      const provider = spec.name;
      const policy = policyOf(provider);
      const generation = cache.generation();
      const client = await mustBeClient(input.clientId);
      if (client.status === 'suspended') {
        throw new AppError(
          'client_suspended',
          'client suspended: its credentials are not handed out',
        );
      }
      const found = await findForResolve(input, provider, policy, actor);
      if (found) {
        cache.set(key, found, generation);
        return handOut({ ...found, expiresAt: 0 }, actor, input.requestId);
      }
      const fromEnv = deps.environment && !input.credentialId ? fromEnvironment(input) : null;
      if (fromEnv) {
        uses.record({ ...fromEnv.use, actor, requestId: input.requestId ?? null });
        return fromEnv.resolved;
      }
      await audit.record({
        actor,
        action: 'credential.failed',
        targetType: 'credential',
        targetId: input.credentialId ?? null,
        clientId: input.clientId,
        data: { operation: 'resolve', provider, policy, reason: 'no active credential' },
      });
      const where =
        policy === 'platform'
          ? `the operator has no active ${provider} platform credential`
          : policy === 'byok'
            ? `client has no active ${provider} credential: add one with POST /v1/credentials`
            : `neither the client nor the operator has an active ${provider} credential`;
      throw new AppError('not_found', `${where} (policy ${policy})`);
    },

    rewrap: maintenance.rewrap,
    checkKeyring: maintenance.checkKeyring,

    /** Operator tools (CLI): whose credential an id is. Never used on a client path. */
    async ownerOf(id: string): Promise<string> {
      const owner = await store.ownerOf(id);
      if (!owner) throw new AppError('not_found', 'credential not found');
      return owner;
    },

    /** Writes pending use counts now (they also go out within usageFlushMs, and on close). */
    flushUsage: uses.flush,

    async close(): Promise<void> {
      cache.close();
      await uses.flush();
    },

    /** For tests and /readyz-style reporting: a provider's circuit state. */
    circuitState(provider: Provider) {
      return verifier.circuitState(provider);
    },
  };
  return service;
}

export type CredentialsService = ReturnType<typeof createCredentialsService>;
