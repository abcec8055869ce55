import type { BlockList } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { ClientStatus, RateLimitSetting } from '../clients/clients-types.ts';
import type { ChangeEvent, ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import {
  generateKey,
  hashKey,
  keyPrefixOf,
  parseKey,
  type KeyEnvironment,
} from '../lib/key-format.ts';
import {
  type KeyPowers,
  compileAllowlist,
  excessPowers,
  hasScopes,
  ipAllowed,
  Lru,
  parseCidr,
  nextRefillAt,
  refillPeriodStart,
  validateScopes,
} from './keys-fns.ts';
import type { KeysStore } from './keys-store.ts';
import type {
  ApiKey,
  AuthContext,
  KeysTable,
  MaybePromise,
  RateLimitGate,
  VerifyCode,
  VerifyResult,
} from './keys-types.ts';

/** What verification needs to know about a key's client (asked of the clients service). */
export interface ClientSnapshot {
  id: string;
  name: string;
  tier: string;
  status: ClientStatus;
  defaultRateLimit: RateLimitSetting | null;
}

export interface KeysServiceDeps {
  keysStore: KeysStore;
  audit: AuditService;
  clock: Clock;
  logger: Logger;
  keyPrefix: string;
  getClient: (clientId: string) => Promise<ClientSnapshot | null>;
  changes: ChangeFeed | null;
  rateLimitGate?: RateLimitGate | null;
  registry?: Registry;
  /** Tunables (tests shrink them). */
  cacheSize?: number;
  negativeTtlMs?: number;
  positiveTtlMs?: number;
  touchFlushMs?: number;
}

export interface CreateKeyInput {
  name?: string | null;
  description?: string | null;
  environment?: KeyEnvironment;
  scopes?: string[];
  ipAllowlist?: string[];
  expiresAt?: string | null;
  expiresInSeconds?: number | null;
  rateLimit?: RateLimitSetting | null;
  credits?: number | null;
  refill?: { interval: 'daily' | 'monthly'; amount: number } | null;
  meta?: Record<string, unknown>;
}

interface CachedKey {
  id: string;
  clientId: string;
  hash: string;
  environment: KeyEnvironment;
  scopes: string[];
  allowlist: BlockList | null;
  expiresAtMs: number | null;
  revoked: boolean;
  rateLimit: RateLimitSetting | null;
  credits: { interval: 'daily' | 'monthly' | null; amount: number | null } | null;
  meta: Record<string, unknown>;
  client: ClientSnapshot;
  cachedAtMs: number;
  /**
   * Credits ran out: until then (epoch ms; Infinity without refill) calls are refused before the
   * rate limiter, so a client retrying on USAGE_EXCEEDED does not also fill its window.
   */
  creditsOutUntil?: number;
}

const MAX_META_BYTES = 4096;

/** A key's at-rest hash: SHA-256, lowercase hex. */
const KEY_HASH = /^[0-9a-f]{64}$/;

type VerifyOptions = { scopes?: string[]; ip?: string; endpoint?: string };

function parseJson<T>(text: string | null, fallback: T): T {
  return text ? (JSON.parse(text) as T) : fallback;
}

export function toApiKey(r: KeysTable): ApiKey {
  return {
    id: r.id,
    clientId: r.client_id,
    start: r.start,
    name: r.name,
    description: r.description,
    environment: r.environment,
    scopes: parseJson<string[]>(r.scopes, []),
    ipAllowlist: parseJson<string[]>(r.ip_allowlist, []),
    expiresAt: r.expires_at,
    rateLimit: parseJson<RateLimitSetting | null>(r.rate_limit, null),
    credits:
      r.credits_remaining === null
        ? null
        : {
            remaining: Number(r.credits_remaining),
            refill:
              r.refill_interval && r.refill_amount !== null
                ? { interval: r.refill_interval, amount: Number(r.refill_amount) }
                : null,
          },
    meta: parseJson<Record<string, unknown>>(r.meta, {}),
    status: r.status,
    revokedAt: r.revoked_at,
    revokedReason: r.revoked_reason,
    lastUsedAt: r.last_used_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function invalid(
  code: VerifyCode,
  key?: CachedKey,
  extra: Partial<VerifyResult> = {},
): VerifyResult {
  return {
    valid: false,
    code,
    clientId: key?.clientId ?? null,
    keyId: key?.id ?? null,
    scopes: key?.scopes ?? [],
    environment: key?.environment ?? null,
    ratelimit: null,
    remaining: null,
    meta: key?.meta ?? {},
    ...extra,
  };
}

/**
 * API keys: issue, list, revoke, roll, delete — and `verify`, the hot path used by the client
 * auth plugin, POST /admin/v1/verify and the SDK. Verification never throws for a bad key; it
 * answers one of the SPEC §2 outcome codes.
 */
export function createKeysService(deps: KeysServiceDeps) {
  const { keysStore, audit, clock, logger, keyPrefix, getClient, changes } = deps;
  const positiveTtlMs = deps.positiveTtlMs ?? 60_000;
  const negativeTtlMs = deps.negativeTtlMs ?? 2_000;
  const cache = new Lru<string, CachedKey>(deps.cacheSize ?? 50_000);
  const negative = new Lru<string, number>(100_000);
  /** Bumped on every change event: a lookup that raced a change is not cached. */
  let generation = 0;

  const verifications = deps.registry
    ? new Counter({
        name: 'keyplane_verifications_total',
        help: 'Key verifications by outcome code',
        labelNames: ['outcome'] as const,
        registers: [deps.registry],
      })
    : null;

  function evict(event: ChangeEvent): void {
    generation++;
    if (event.kind === 'client') {
      for (const entry of [...cache.values()])
        if (entry.clientId === event.clientId) cache.delete(entry.hash);
    } else {
      for (const entry of [...cache.values()]) if (entry.id === event.id) cache.delete(entry.hash);
    }
  }
  function evictAll(): void {
    generation++;
    cache.clear();
    negative.clear();
  }
  const unsubscribe = changes?.subscribe(evict);
  const unresync = changes?.onResync(evictAll);

  async function publish(kind: 'key' | 'client', id: string, clientId: string): Promise<void> {
    // Local subscribers (our own cache) are served synchronously inside publish.
    if (changes) await changes.publish({ kind, id, clientId });
    else evict({ kind, id, clientId });
  }

  // last_used_at without a write per request: remembered here, written every few seconds.
  const touches = new Map<string, number>();
  async function flushTouches(): Promise<void> {
    if (!touches.size) return;
    const batch = [...touches].map(([id, at]) => ({ id, at: new Date(at).toISOString() }));
    touches.clear();
    try {
      await keysStore.touchMany(batch);
    } catch (err) {
      logger.warn({ err }, 'could not record key last-used times');
    }
  }
  const touchTimer = setInterval(() => void flushTouches(), deps.touchFlushMs ?? 5_000);
  touchTimer.unref();

  async function load(hash: string): Promise<CachedKey | null> {
    const gen = generation;
    const row = await keysStore.findByHash(hash);
    if (!row) return null;
    const client = await getClient(row.client_id);
    if (!client) return null;
    const entry: CachedKey = {
      id: row.id,
      clientId: row.client_id,
      hash,
      environment: row.environment,
      scopes: parseJson<string[]>(row.scopes, []),
      allowlist: compileAllowlist(parseJson<string[]>(row.ip_allowlist, [])),
      expiresAtMs: row.expires_at ? Date.parse(row.expires_at) : null,
      revoked: row.status === 'revoked',
      rateLimit: parseJson<RateLimitSetting | null>(row.rate_limit, null),
      credits:
        row.credits_remaining === null
          ? null
          : {
              interval: row.refill_interval,
              amount: row.refill_amount === null ? null : Number(row.refill_amount),
            },
      meta: parseJson<Record<string, unknown>>(row.meta, {}),
      client,
      cachedAtMs: clock.nowMs(),
    };
    if (gen === generation) cache.set(hash, entry);
    return entry;
  }

  async function takeCredit(entry: CachedKey, now: Date): Promise<number | null> {
    const c = entry.credits!;
    if (c.interval && c.amount !== null) {
      await keysStore.refillCredits(entry.id, c.amount, refillPeriodStart(c.interval, now));
    }
    return keysStore.takeCredits(entry.id, 1);
  }

  function count(result: VerifyResult): VerifyResult {
    verifications?.inc({ outcome: result.code });
    return result;
  }

  /**
   * Verifies a key: the outcome codes of SPEC §2. The answer is a plain value when nothing had to
   * wait (the key cached, an in-process rate limit, no credits: the hot path makes no promise),
   * else a promise; callers `await` it either way.
   */
  function verify(rawKey: unknown, opts: VerifyOptions = {}): MaybePromise<VerifyResult> {
    // Shape first; the checksum only when the cache does not know the key (a cached hash was
    // a whole, valid key), and always before the negative cache or storage.
    if (keyPrefixOf(rawKey) !== keyPrefix) return count(invalid('MALFORMED'));
    return verifyHashed(hashKey(rawKey as string), rawKey, opts, true);
  }

  /**
   * Verification by the key's at-rest hash: a dashboard client session holds the hash, never
   * the key, and goes through the same checks on every request. `consume: false` stops before
   * the rate limit and credits (a session asking who it is uses nothing up).
   */
  function verifyHash(
    hash: string,
    opts: VerifyOptions & { consume?: boolean } = {},
  ): MaybePromise<VerifyResult> {
    if (!KEY_HASH.test(hash)) return count(invalid('MALFORMED'));
    return verifyHashed(hash, null, opts, opts.consume ?? true);
  }

  /**
   * Every check after hashing, shared by verify and verifyHash. `rawKey` is null for a hash
   * (its key passed the checksum when the session was opened).
   */
  function verifyHashed(
    hash: string,
    rawKey: unknown,
    opts: VerifyOptions,
    consume: boolean,
  ): MaybePromise<VerifyResult> {
    const nowMs = clock.nowMs();
    let entry = cache.get(hash);
    if (entry && nowMs - entry.cachedAtMs > positiveTtlMs) {
      cache.delete(hash);
      entry = undefined;
    }
    if (entry) return checkEntry(entry, nowMs, opts, consume);
    if (rawKey !== null && !parseKey(rawKey)) return count(invalid('MALFORMED'));
    const neg = negative.get(hash);
    if (neg !== undefined && neg > nowMs) return count(invalid('NOT_FOUND'));
    return load(hash).then((loaded) => {
      if (!loaded) {
        negative.set(hash, nowMs + negativeTtlMs);
        return count(invalid('NOT_FOUND'));
      }
      return checkEntry(loaded, nowMs, opts, consume);
    });
  }

  /** The checks on a known key, then its rate limit and credits when `consume`. */
  function checkEntry(
    entry: CachedKey,
    nowMs: number,
    opts: VerifyOptions,
    consume: boolean,
  ): MaybePromise<VerifyResult> {
    if (entry.revoked) return count(invalid('REVOKED', entry));
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs)
      return count(invalid('EXPIRED', entry));
    if (entry.client.status !== 'active') return count(invalid('CLIENT_SUSPENDED', entry));
    if (!ipAllowed(entry.allowlist, opts.ip)) return count(invalid('IP_NOT_ALLOWED', entry));
    if (!hasScopes(entry.scopes, opts.scopes)) return count(invalid('INSUFFICIENT_SCOPE', entry));
    // (Only a call uses credits: a dashboard session asking who it is does not need any.)
    if (entry.creditsOutUntil !== undefined && consume && nowMs < entry.creditsOutUntil) {
      const resetAt = Number.isFinite(entry.creditsOutUntil) ? entry.creditsOutUntil : null;
      return count(invalid('USAGE_EXCEEDED', entry, { remaining: 0, creditsResetAt: resetAt }));
    }

    const auth: AuthContext = {
      clientId: entry.clientId,
      clientName: entry.client.name,
      clientTier: entry.client.tier,
      keyId: entry.id,
      environment: entry.environment,
      scopes: entry.scopes,
      rateLimit: entry.rateLimit ?? entry.client.defaultRateLimit,
      meta: entry.meta,
    };
    if (!consume) return valid(entry, auth, null, null);
    const rl = deps.rateLimitGate?.check(auth, { endpoint: opts.endpoint }) ?? null;
    if (rl instanceof Promise) return rl.then((r) => afterLimit(entry, auth, nowMs, r));
    return afterLimit(entry, auth, nowMs, rl);
  }

  function afterLimit(
    entry: CachedKey,
    auth: AuthContext,
    nowMs: number,
    rl: Awaited<ReturnType<RateLimitGate['check']>>,
  ): MaybePromise<VerifyResult> {
    let ratelimit: VerifyResult['ratelimit'] = null;
    if (rl) {
      ratelimit = { limit: rl.limit, remaining: rl.remaining, reset: rl.reset };
      if (!rl.allowed) return count(invalid('RATE_LIMITED', entry, { ratelimit }));
    }
    if (!entry.credits) return used(entry, auth, nowMs, ratelimit, null);
    const credits = entry.credits;
    const now = new Date(nowMs);
    return takeCredit(entry, now).then((remaining) => {
      if (remaining === null) {
        const resetAt = credits.interval ? nextRefillAt(credits.interval, now) : null;
        entry.creditsOutUntil = resetAt ?? Infinity;
        return count(
          invalid('USAGE_EXCEEDED', entry, { ratelimit, remaining: 0, creditsResetAt: resetAt }),
        );
      }
      return used(entry, auth, nowMs, ratelimit, remaining);
    });
  }

  /** A call that passed every check: counted, and last_used_at noted for the next touch. */
  function used(
    entry: CachedKey,
    auth: AuthContext,
    nowMs: number,
    ratelimit: VerifyResult['ratelimit'],
    remaining: number | null,
  ): VerifyResult {
    touches.set(entry.id, nowMs);
    return count(valid(entry, auth, ratelimit, remaining));
  }

  function valid(
    entry: CachedKey,
    auth: AuthContext,
    ratelimit: VerifyResult['ratelimit'],
    remaining: number | null,
  ): VerifyResult {
    return {
      valid: true,
      code: 'VALID',
      clientId: entry.clientId,
      keyId: entry.id,
      scopes: entry.scopes,
      environment: entry.environment,
      ratelimit,
      remaining,
      meta: entry.meta,
      auth,
    };
  }

  function buildRow(
    clientId: string,
    input: CreateKeyInput,
    now: Date,
  ): { row: KeysTable; apiKey: string } {
    const environment = input.environment ?? 'live';
    const apiKey = generateKey(keyPrefix, environment);
    const name = input.name?.trim() || null;
    if (name && name.length > 200)
      throw new AppError('validation_failed', 'name must be at most 200 characters');
    if (input.description && input.description.length > 2000) {
      throw new AppError('validation_failed', 'description must be at most 2000 characters');
    }
    const scopes = validateScopes(input.scopes ?? []);
    const ipAllowlist = (input.ipAllowlist ?? []).map((c) => parseCidr(c).cidr);
    let expiresAt: string | null = null;
    if (input.expiresAt && input.expiresInSeconds) {
      throw new AppError('validation_failed', 'give expiresAt or expiresInSeconds, not both');
    }
    if (input.expiresAt) {
      const t = Date.parse(input.expiresAt);
      if (Number.isNaN(t))
        throw new AppError('validation_failed', 'expiresAt must be an ISO-8601 time');
      expiresAt = new Date(t).toISOString();
    } else if (input.expiresInSeconds) {
      if (!Number.isInteger(input.expiresInSeconds) || input.expiresInSeconds <= 0) {
        throw new AppError('validation_failed', 'expiresInSeconds must be a positive whole number');
      }
      expiresAt = new Date(now.getTime() + input.expiresInSeconds * 1000).toISOString();
    }
    if (input.rateLimit) {
      const { limit, windowSeconds } = input.rateLimit;
      if (
        !Number.isInteger(limit) ||
        limit < 1 ||
        !Number.isInteger(windowSeconds) ||
        windowSeconds < 1
      ) {
        throw new AppError(
          'validation_failed',
          'rateLimit needs a positive whole limit and windowSeconds',
        );
      }
    }
    if (input.credits !== undefined && input.credits !== null) {
      if (!Number.isInteger(input.credits) || input.credits < 0) {
        throw new AppError('validation_failed', 'credits must be a whole number ≥ 0');
      }
    }
    if (input.refill && (input.credits === undefined || input.credits === null)) {
      throw new AppError('validation_failed', 'refill needs credits');
    }
    if (input.refill && (!Number.isInteger(input.refill.amount) || input.refill.amount < 1)) {
      throw new AppError('validation_failed', 'refill.amount must be a positive whole number');
    }
    const meta = JSON.stringify(input.meta ?? {});
    if (Buffer.byteLength(meta) > MAX_META_BYTES) {
      throw new AppError(
        'validation_failed',
        `meta must be at most ${MAX_META_BYTES} bytes of JSON`,
      );
    }
    const iso = now.toISOString();
    const credits = input.credits ?? null;
    return {
      apiKey,
      row: {
        id: newId('key', now.getTime()),
        client_id: clientId,
        key_hash: hashKey(apiKey),
        start: parseKey(apiKey)!.start,
        name,
        description: input.description ?? null,
        environment,
        scopes: JSON.stringify(scopes),
        ip_allowlist: JSON.stringify(ipAllowlist),
        expires_at: expiresAt,
        rate_limit: input.rateLimit ? JSON.stringify(input.rateLimit) : null,
        credits_remaining: credits,
        refill_interval: input.refill?.interval ?? null,
        refill_amount: input.refill?.amount ?? null,
        refilled_at: input.refill ? refillPeriodStart(input.refill.interval, now) : null,
        meta,
        status: 'active',
        revoked_at: null,
        revoked_reason: null,
        rolled_to: null,
        last_used_at: null,
        created_at: iso,
        updated_at: iso,
      },
    };
  }

  async function mustFind(clientId: string, keyId: string): Promise<KeysTable> {
    const row = await keysStore.find(clientId, keyId);
    if (!row) throw new AppError('not_found', 'key not found');
    return row;
  }

  /** Moves a key between active and revoked only from the expected status; audits a real change. */
  async function setStatus(
    clientId: string,
    keyId: string,
    from: KeysTable['status'],
    patch: Partial<KeysTable>,
    event: { actor: Actor; action: string; data?: Record<string, unknown> },
  ): Promise<ApiKey> {
    await mustFind(clientId, keyId);
    const updated_at = clock.now().toISOString();
    if (await keysStore.update(clientId, keyId, { ...patch, updated_at }, { status: from })) {
      await publish('key', keyId, clientId);
      await audit.record({ ...event, targetType: 'key', targetId: keyId, clientId });
    }
    return toApiKey(await mustFind(clientId, keyId));
  }

  async function create(
    clientId: string,
    input: CreateKeyInput,
    actor: Actor,
  ): Promise<{ key: ApiKey; apiKey: string }> {
    const client = await getClient(clientId);
    if (!client || client.status === 'deleted') throw new AppError('not_found', 'client not found');
    const { row, apiKey } = buildRow(clientId, input, clock.now());
    await keysStore.insert(row);
    await audit.record({
      actor,
      action: 'key.created',
      targetType: 'key',
      targetId: row.id,
      clientId,
      data: { start: row.start, environment: row.environment, scopes: JSON.parse(row.scopes) },
    });
    return { key: toApiKey(row), apiKey };
  }

  // Failed authentications are audited, sampled: at most one entry per (ip, outcome) a minute
  // and 20 a second overall, so a flood of bad keys cannot flood the log. Never the key itself.
  const failureSeen = new Lru<string, number>(10_000);
  let failureWindow = { second: 0, count: 0 };
  const authFailures = deps.registry
    ? new Counter({
        name: 'keyplane_auth_failures_total',
        help: 'Failed client authentications by outcome code',
        labelNames: ['outcome'] as const,
        registers: [deps.registry],
      })
    : null;

  async function reportFailure(input: {
    code: VerifyCode | 'MISSING';
    ip?: string;
    endpoint?: string;
    rawKey?: unknown;
    keyId?: string | null;
    clientId?: string | null;
  }): Promise<void> {
    authFailures?.inc({ outcome: input.code });
    const nowMs = clock.now().getTime();
    const sampleKey = `${input.ip ?? '-'}|${input.code}`;
    const last = failureSeen.get(sampleKey);
    if (last !== undefined && nowMs - last < 60_000) return;
    const second = Math.floor(nowMs / 1000);
    if (failureWindow.second !== second) failureWindow = { second, count: 0 };
    if (++failureWindow.count > 20) return;
    failureSeen.set(sampleKey, nowMs);
    const parsed = parseKey(input.rawKey);
    try {
      await audit.record({
        actor: { type: 'anonymous', id: 'anonymous', ip: input.ip ?? null },
        action: 'auth.failed',
        targetType: 'key',
        targetId: input.keyId ?? null,
        clientId: input.clientId ?? null,
        data: {
          outcome: input.code,
          endpoint: input.endpoint ?? null,
          keyStart: parsed?.start ?? null,
          sampled: true,
        },
      });
    } catch (err) {
      logger.warn({ err }, 'could not audit a failed authentication');
    }
  }

  function isoOrNull(text: string | null | undefined): string | null {
    if (!text) return null;
    const t = Date.parse(text);
    if (Number.isNaN(t))
      throw new AppError('validation_failed', 'expiresAt must be an ISO-8601 time');
    return new Date(t).toISOString();
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
  async function mustNotExceed(auth: AuthContext, child: KeyPowers): Promise<void> {
    const parent = powersOf(await get(auth.clientId, auth.keyId));
    const excess = excessPowers(parent, child);
    if (excess.length) {
      throw new AppError('insufficient_scope', `this key cannot hand out ${excess.join('; ')}`);
    }
  }

  async function get(clientId: string, keyId: string): Promise<ApiKey> {
    return toApiKey(await mustFind(clientId, keyId));
  }

  return {
    verify,
    verifyHash,
    create,

    /**
     * Self-service creation (POST /v1/keys): what the body leaves out is inherited from the
     * calling key (rate limit, expiry, IP allowlist), and nothing may exceed it.
     */
    async createOwn(auth: AuthContext, input: CreateKeyInput, actor: Actor) {
      const parent = await get(auth.clientId, auth.keyId);
      const expiresAt =
        input.expiresAt ??
        (input.expiresInSeconds
          ? new Date(clock.now().getTime() + input.expiresInSeconds * 1000).toISOString()
          : parent.expiresAt);
      const filled: CreateKeyInput = {
        ...input,
        expiresInSeconds: undefined,
        expiresAt,
        rateLimit: input.rateLimit ?? parent.rateLimit,
        ipAllowlist: input.ipAllowlist?.length ? input.ipAllowlist : parent.ipAllowlist,
      };
      await mustNotExceed(auth, {
        scopes: filled.scopes ?? [],
        ipAllowlist: filled.ipAllowlist ?? [],
        expiresAt: isoOrNull(filled.expiresAt),
        rateLimit: filled.rateLimit ?? null,
        limitedCredits: filled.credits !== undefined && filled.credits !== null,
      });
      return create(auth.clientId, filled, actor);
    },

    /** Self-service roll: rolling hands over the rolled key's powers, so they may not exceed the caller's. */
    async assertMayRoll(auth: AuthContext, keyId: string): Promise<void> {
      await mustNotExceed(auth, powersOf(await get(auth.clientId, keyId)));
    },
    reportFailure,

    async list(clientId: string, opts: { limit?: number; cursor?: string } = {}) {
      const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
      const rows = await keysStore.list(clientId, { limit: limit + 1, cursor: opts.cursor });
      const data = rows.slice(0, limit).map(toApiKey);
      return { data, nextCursor: rows.length > limit ? data[data.length - 1]!.id : null };
    },

    /** All keys of each of these clients (at most 1000 clients: one page of the client list). */
    async listForClients(clientIds: readonly string[]): Promise<Map<string, ApiKey[]>> {
      const out = new Map<string, ApiKey[]>(clientIds.map((id) => [id, []]));
      for (let i = 0; i < clientIds.length; i += 500) {
        for (const row of await keysStore.listForClients(clientIds.slice(i, i + 500))) {
          out.get(row.client_id)?.push(toApiKey(row));
        }
      }
      return out;
    },

    get,

    async revoke(
      clientId: string,
      keyId: string,
      actor: Actor,
      reason?: string | null,
    ): Promise<ApiKey> {
      const at = clock.now().toISOString();
      return setStatus(
        clientId,
        keyId,
        'active',
        { status: 'revoked', revoked_at: at, revoked_reason: reason?.slice(0, 500) ?? null },
        { actor, action: 'key.revoked', data: { reason: reason ?? null } },
      );
    },

    reactivate: (clientId: string, keyId: string, actor: Actor): Promise<ApiKey> =>
      setStatus(
        clientId,
        keyId,
        'revoked',
        { status: 'active', revoked_at: null, revoked_reason: null },
        { actor, action: 'key.reactivated' },
      ),

    /**
     * Stripe-style roll: a new key with the same settings; the old one keeps working until the
     * grace deadline (0 = revoked at once).
     */
    async roll(
      clientId: string,
      keyId: string,
      actor: Actor,
      gracePeriodSeconds = 86_400,
    ): Promise<{ key: ApiKey; apiKey: string; rolled: ApiKey }> {
      if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0) {
        throw new AppError('validation_failed', 'gracePeriodSeconds must be a whole number ≥ 0');
      }
      const old = await mustFind(clientId, keyId);
      if (old.status !== 'active')
        throw new AppError('conflict', 'only an active key can be rolled');
      const now = clock.now();
      const settings = toApiKey(old);
      const { row, apiKey } = buildRow(
        clientId,
        {
          name: settings.name,
          description: settings.description,
          environment: settings.environment,
          scopes: settings.scopes,
          ipAllowlist: settings.ipAllowlist,
          expiresAt: settings.expiresAt,
          rateLimit: settings.rateLimit,
          credits: settings.credits?.remaining ?? null,
          refill: settings.credits?.refill ?? null,
          meta: settings.meta,
        },
        now,
      );
      const graceEnd = new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString();
      const oldExpiry = old.expires_at && old.expires_at < graceEnd ? old.expires_at : graceEnd;
      await keysStore.insert(row);
      const iso = now.toISOString();
      await keysStore.update(
        clientId,
        keyId,
        gracePeriodSeconds === 0
          ? {
              status: 'revoked',
              revoked_at: iso,
              revoked_reason: 'rolled',
              rolled_to: row.id,
              updated_at: iso,
            }
          : { expires_at: oldExpiry, rolled_to: row.id, updated_at: iso },
      );
      await publish('key', keyId, clientId);
      await audit.record({
        actor,
        action: 'key.rolled',
        targetType: 'key',
        targetId: keyId,
        clientId,
        data: { newKeyId: row.id, gracePeriodSeconds },
      });
      return { key: toApiKey(row), apiKey, rolled: toApiKey(await mustFind(clientId, keyId)) };
    },

    async delete(clientId: string, keyId: string, actor: Actor): Promise<void> {
      await mustFind(clientId, keyId);
      if (await keysStore.delete(clientId, keyId)) {
        await publish('key', keyId, clientId);
        await audit.record({
          actor,
          action: 'key.deleted',
          targetType: 'key',
          targetId: keyId,
          clientId,
        });
      }
    },

    /** Destroys every key of a client (client deletion). */
    async destroyAllForClient(clientId: string): Promise<number> {
      const ids = await keysStore.deleteAllForClient(clientId);
      await publish('client', clientId, clientId);
      return ids.length;
    },

    /** Tells every node that a client changed (status, name, tier, default limit). */
    clientChanged: (clientId: string) => publish('client', clientId, clientId),

    /**
     * Which key has this at-rest hash, for leak reports and `keyplane scan --check` (operator
     * paths: the reporter is not a client). Storage, not the cache: a report must see a
     * revocation made on another node a moment ago.
     */
    async lookupByHash(hash: string): Promise<ApiKey | null> {
      if (!KEY_HASH.test(hash)) return null;
      const row = await keysStore.findByHash(hash);
      return row ? toApiKey(row) : null;
    },

    /** Operator paths only (the CLI names keys by id alone). */
    async ownerOf(keyId: string): Promise<string> {
      const owner = await keysStore.ownerOf(keyId);
      if (!owner) throw new AppError('not_found', 'key not found');
      return owner;
    },

    cacheStats: () => ({ positive: cache.size, negative: negative.size }),

    async close(): Promise<void> {
      clearInterval(touchTimer);
      unsubscribe?.();
      unresync?.();
      await flushTouches();
    },
  };
}

export type KeysService = ReturnType<typeof createKeysService>;
