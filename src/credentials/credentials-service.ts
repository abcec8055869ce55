import type { z } from 'zod';
import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import { ConfigError, type providerConfigSchema } from '../config.ts';
import type { Logger } from '../infra/logger.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { MetaStore } from '../store/meta-store.ts';
import {
  masterKeyCheckValue,
  openCredential,
  rewrapDataKey,
  sealCredential,
  unwrapDataKey,
  VaultCryptoError,
} from './credentials-crypto.ts';
import { checkEnum, checkName, isUniqueViolation, toCredential } from './credentials-fns.ts';
import type { CredentialsStore } from './credentials-store.ts';
import {
  CREDENTIAL_TYPES,
  PERMISSIONS,
  PLATFORM_OWNER,
  type CreateCredentialInput,
  type Credential,
  type CredentialSummary,
  type CredentialsTable,
  type Policy,
  type Provider,
  type ResolvedCredential,
  type RewrapReport,
  type SecretFields,
  type UpdateCredentialInput,
  type VerificationStatus,
} from './credentials-types.ts';
import {
  providerSpec,
  secretFromEnvironment,
  validateSecret,
  type ProviderSpec,
} from './providers/index.ts';
import { createCircuitBreaker, withRetry, type CircuitBreaker } from './resilience-fns.ts';

export type ProviderSettings = z.output<typeof providerConfigSchema>;

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
  /** Bounded delay before use counts reach the store. */
  usageFlushMs?: number;
}

const DEFAULTS = {
  timeoutMs: 10_000,
  maxRetries: 2,
  retryBackoffMs: 500,
  retryMaxMs: 5_000,
  circuitBreakerThreshold: 5,
  circuitBreakerCooldownMs: 30_000,
};

export interface Verification {
  status: VerificationStatus;
  message: string;
  attempts: number;
  checkedAt: string;
}

const META_CHECK = (keyId: string) => `credentials.master-key-check.${keyId}`;

/**
 * The credentials vault: write-only secrets, metadata out, envelope encryption, provider
 * verification, policy-aware resolution for workers, and an audit event for every access.
 */
export function createCredentialsService(deps: CredentialsServiceDeps) {
  const { credentialsStore: store, audit, keyring, clock, logger } = deps;
  const doFetch = deps.fetch ?? globalThis.fetch;
  const flushMs = deps.usageFlushMs ?? 250;
  const breakers = new Map<string, CircuitBreaker>();

  // ---- use counters: counted in memory, written in batches ----
  const pending = new Map<string, { owner: string; id: string; count: number; last: string }>();
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;

  function countUse(owner: string, id: string, at: string) {
    const k = `${owner}\n${id}`;
    const p = pending.get(k);
    if (p) {
      p.count++;
      if (at > p.last) p.last = at;
    } else pending.set(k, { owner, id, count: 1, last: at });
    if (!flushTimer) {
      flushTimer = setTimeout(() => void flushUsage(), flushMs);
      flushTimer.unref();
    }
  }

  async function flushUsage(): Promise<void> {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    if (flushing) await flushing;
    if (!pending.size) return;
    const batch = [...pending.values()];
    pending.clear();
    flushing = (async () => {
      for (const [i, u] of batch.entries()) {
        try {
          await store.addUsage(u.owner, u.id, u.count, u.last);
        } catch (err) {
          // Put back what was not written; the next flush tries again.
          for (const rest of batch.slice(i)) {
            const k = `${rest.owner}\n${rest.id}`;
            const p = pending.get(k);
            if (p) {
              p.count += rest.count;
              if (rest.last > p.last) p.last = rest.last;
            } else pending.set(k, { ...rest });
          }
          logger.error({ err }, 'credential usage flush failed; will retry');
          if (!flushTimer) {
            flushTimer = setTimeout(() => void flushUsage(), flushMs);
            flushTimer.unref();
          }
          return;
        }
      }
    })();
    try {
      await flushing;
    } finally {
      flushing = null;
    }
  }

  function view(row: CredentialsTable): Credential {
    const p = pending.get(`${row.client_id}\n${row.id}`);
    return toCredential(row, p ? { count: p.count, last: p.last } : undefined);
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

  function breakerFor(provider: Provider): CircuitBreaker {
    let b = breakers.get(provider);
    if (!b) {
      const s = settings(provider);
      b = createCircuitBreaker({
        failureThreshold: s.circuitBreakerThreshold ?? DEFAULTS.circuitBreakerThreshold,
        cooldownMs: s.circuitBreakerCooldownMs ?? DEFAULTS.circuitBreakerCooldownMs,
        now: () => Date.now(),
      });
      breakers.set(provider, b);
    }
    return b;
  }

  /** Calls the provider with retries on transient failures, behind its circuit breaker. */
  async function callProvider(spec: ProviderSpec, fields: SecretFields): Promise<Verification> {
    const checkedAt = clock.now().toISOString();
    if (!spec.verify) {
      return {
        status: 'unsupported',
        message: `${spec.name} has no verification endpoint; the credential is stored unverified`,
        attempts: 0,
        checkedAt,
      };
    }
    const verify = spec.verify;
    const s = settings(spec.name);
    const baseUrl = s.baseUrl ?? spec.defaultBaseUrl!;
    const breaker = breakerFor(spec.name);
    let circuitOpen: string | null = null;
    const result = await withRetry(
      async () => {
        const pass = breaker.tryPass();
        if (!pass.allowed) {
          circuitOpen = `${spec.name} is failing: its circuit is open, next try in ${Math.ceil(pass.retryInMs / 1000)} s`;
          return { ok: false, transient: false, reason: circuitOpen };
        }
        const r = await verify(fields, {
          baseUrl,
          timeoutMs: s.timeoutMs ?? DEFAULTS.timeoutMs,
          now: clock.now(),
          fetch: doFetch,
        });
        if (!r.ok && r.transient) breaker.recordFailure();
        else breaker.recordSuccess();
        return r;
      },
      {
        retries: s.maxRetries ?? DEFAULTS.maxRetries,
        baseMs: s.retryBackoffMs ?? DEFAULTS.retryBackoffMs,
        maxMs: DEFAULTS.retryMaxMs,
      },
    );
    if (result.ok) {
      return {
        status: 'verified',
        message: result.value.message,
        attempts: result.attempts,
        checkedAt,
      };
    }
    const unreachable = result.transient || circuitOpen !== null;
    return {
      status: unreachable ? 'unreachable' : 'rejected',
      message: result.reason,
      attempts: circuitOpen ? result.attempts - 1 : result.attempts,
      checkedAt,
    };
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

    async get(owner: string, id: string): Promise<Credential> {
      return view(await mustFind(owner, id));
    },

    async list(
      owner: string,
      opts: { provider?: string; includeDeleted?: boolean; limit?: number; cursor?: string } = {},
    ): Promise<{ data: Credential[]; nextCursor: string | null }> {
      const limit = Math.min(Math.max(opts.limit ?? 50, 1), 1000);
      const rows = await store.list(owner, { ...opts, limit: limit + 1 });
      const page = rows.slice(0, limit);
      return {
        data: page.map(view),
        nextCursor: rows.length > limit ? page[page.length - 1]!.id : null,
      };
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
      const at = clock.now().toISOString();
      if (await store.softDelete(owner, id, at)) {
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
      const ids = await store.softDeleteAll(clientId, clock.now().toISOString());
      for (const id of ids) {
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
      const verification = await callProvider(spec, fields);
      const patch: Partial<CredentialsTable> = {
        verify_status: verification.status,
        verify_message: verification.message,
      };
      if (verification.status === 'verified' || verification.status === 'rejected') {
        patch.is_verified = verification.status === 'verified' ? 1 : 0;
        patch.last_verified_at = verification.checkedAt;
      }
      await store.update(owner, id, patch);
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

    /** A credential's own audit trail (also after deletion). */
    async auditTrail(owner: string, id: string, opts: { limit?: number; cursor?: string } = {}) {
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
      return {
        data: page.data.map((e) => ({
          id: e.id,
          createdAt: e.createdAt,
          action: e.action,
          actorType: e.actorType,
          actorId: e.actorId,
          ip: e.ip,
          data: e.data,
        })),
        nextCursor: page.nextCursor,
      };
    },

    /**
     * For workers and the proxy: the secret to use for a client and provider, following the
     * provider's policy. Every answer is audited (`credential.used` or `credential.failed`).
     */
    async resolve(
      input: { clientId: string; provider: string; credentialId?: string },
      actor: Actor,
    ): Promise<ResolvedCredential> {
      const spec = providerSpec(input.provider);
      const provider = spec.name;
      const policy = policyOf(provider);
      const client = await mustBeClient(input.clientId);
      if (client.status === 'suspended') {
        throw new AppError(
          'client_suspended',
          'client suspended: its credentials are not handed out',
        );
      }
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
        const fields = await openOrFail(row, actor, 'resolve');
        const at = clock.now().toISOString();
        countUse(owner, row.id, at);
        await audit.record({
          actor,
          action: 'credential.used',
          targetType: 'credential',
          targetId: row.id,
          clientId: input.clientId,
          data: { operation: 'resolve', provider, source, policy },
        });
        return { provider, policy, source, credentialId: row.id, credentials: fields };
      }

      if (deps.environment && !input.credentialId) {
        const fromEnv = secretFromEnvironment(provider, deps.environment);
        if (fromEnv) {
          logger.info(
            { clientId: input.clientId, provider, variables: fromEnv.variables },
            `[development] no stored ${provider} credential for this client: using ${fromEnv.variables.join(', ')} from the environment (production never does this)`,
          );
          await audit.record({
            actor,
            action: 'credential.used',
            targetType: 'credential',
            targetId: null,
            clientId: input.clientId,
            data: {
              operation: 'resolve',
              provider,
              source: 'environment',
              policy,
              variables: fromEnv.variables,
            },
          });
          return {
            provider,
            policy,
            source: 'environment',
            credentialId: null,
            credentials: fromEnv.fields,
          };
        }
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

    /**
     * Moves every data key to the active master key. Secrets stay sealed; each data key is
     * unwrapped in memory and wrapped again, compare-and-set so concurrent writes win.
     */
    async rewrap(
      opts: {
        batchSize?: number;
        onProgress?: (done: number, total: number) => void;
        actor?: Actor;
      } = {},
    ): Promise<RewrapReport> {
      const active = keyring.activeId;
      const total = await store.countWrappedWithOther(active);
      const report: RewrapReport = { activeKeyId: active, total, rewrapped: 0, failed: [] };
      let after = '';
      let done = 0;
      opts.onProgress?.(0, total);
      for (;;) {
        const rows = await store.pageWrappedWithOther(active, after, opts.batchSize ?? 200);
        if (!rows.length) break;
        for (const r of rows) {
          after = r.id;
          try {
            const next = rewrapDataKey(
              keyring,
              { credentialId: r.id, ownerId: r.client_id },
              r.wrapped_key!,
              r.master_key_id!,
            );
            if (await store.replaceWrappedKey(r.client_id, r.id, r.wrapped_key!, next)) {
              report.rewrapped++;
            }
          } catch (err) {
            if (!(err instanceof VaultCryptoError)) throw err;
            report.failed.push({ id: r.id, reason: err.message });
          }
          opts.onProgress?.(++done, Math.max(total, done));
        }
      }
      await audit.record({
        actor: opts.actor ?? { type: 'system', id: 'rewrap' },
        action: 'credentials.rewrapped',
        targetType: 'credential',
        data: {
          activeKeyId: active,
          total,
          rewrapped: report.rewrapped,
          failed: report.failed.length,
        },
      });
      return report;
    },

    /**
     * Start-up check: every master key matches the one this store first saw under its id, and
     * every data key in use can be unwrapped. A wrong key fails here with a clear message
     * instead of answering garbage later.
     */
    async checkKeyring(): Promise<void> {
      const problems: string[] = [];
      const varName =
        keyring.source === 'file' || keyring.source === 'generated'
          ? 'the master key file'
          : keyring.keys.size > 1 || keyring.activeId !== 'default'
            ? 'KEYPLANE_MASTER_KEYS'
            : 'KEYPLANE_MASTER_KEY';
      for (const [id, key] of keyring.keys) {
        const check = masterKeyCheckValue(key, id);
        const stored = await deps.metaStore.get(META_CHECK(id));
        if (stored === null) await deps.metaStore.claim(META_CHECK(id), check);
        else if (stored !== check) {
          problems.push(
            `${varName}: master key "${id}" is not the key this store was set up with (its check value differs); start with the original key`,
          );
        }
      }
      for (const { masterKeyId, sampleId } of await store.masterKeyIdsInUse()) {
        if (!keyring.keys.has(masterKeyId)) {
          problems.push(
            `${varName}: stored credentials are wrapped with master key "${masterKeyId}", which the keyring does not hold; add it back (KEYPLANE_MASTER_KEYS=${masterKeyId}:…,…) and run \`keyplane credentials rewrap\` before retiring it`,
          );
          continue;
        }
        const row = await store.findAny(sampleId);
        if (!row?.wrapped_key) continue;
        try {
          unwrapDataKey(
            keyring,
            { credentialId: row.id, ownerId: row.client_id },
            row.wrapped_key,
            masterKeyId,
          );
        } catch {
          problems.push(
            `${varName}: master key "${masterKeyId}" cannot open the stored data keys; this is not the key they were sealed with`,
          );
        }
      }
      if (problems.length) throw new ConfigError(problems);
    },

    /** Operator tools (CLI): whose credential an id is. Never used on a client path. */
    async ownerOf(id: string): Promise<string> {
      const owner = await store.ownerOf(id);
      if (!owner) throw new AppError('not_found', 'credential not found');
      return owner;
    },

    flushUsage,

    async close(): Promise<void> {
      await flushUsage();
    },

    /** For tests and /readyz-style reporting: a provider's circuit state. */
    circuitState(provider: Provider) {
      return breakerFor(provider).state();
    },
  };
  return service;
}

export type CredentialsService = ReturnType<typeof createCredentialsService>;
