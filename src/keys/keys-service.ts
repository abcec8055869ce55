import type { BlockList } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { BudgetDecision, BudgetHold } from '../budgets/budgets-types.ts';
import type { ClientStatus, RateLimitSetting } from '../clients/clients-types.ts';
import type { ChangeEvent, ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf } from '../lib/ids.ts';
import { hashKey, keyPrefixOf, parseKey, type KeyEnvironment } from '../lib/key-format.ts';
import { buildKeyRow, parseJson, toApiKey, withPool, type CreateKeyInput } from './key-rows.ts';
import {
  type KeyPowers,
  compileAllowlist,
  excessPowers,
  hasScopes,
  ipAllowed,
  Lru,
  nextRefillAt,
  refillPeriodStart,
} from './keys-fns.ts';
import { KeyCache } from './key-cache.ts';
import type { EmitAlone, EmitEvent } from '../webhooks/webhooks-service.ts';
import { createKeyEvents, keySummary } from './key-events.ts';
import { createKeyFailures } from './keys-failures.ts';
import type { InTx, KeysStore, TakenCredits } from './keys-store.ts';
import { isLegacyCandidate, legacyKeyRow, type LegacyKeyInput } from './legacy-keys-fns.ts';
import type {
  ApiKey,
  AuthContext,
  BudgetStep,
  KeyRow,
  KeysTable,
  MaybePromise,
  RateLimitGate,
  VerifyCode,
  VerifyResult,
} from './keys-types.ts';
import { byId, readPage } from '../lib/page.ts';

export type { CreateKeyInput } from './key-rows.ts';
export { toApiKey } from './key-rows.ts';

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
  budgetGate?: BudgetStep | null;
  registry?: Registry;
  /** The webhooks outbox: key.* events commit with the key's change; the rest on their own. */
  emit?: EmitEvent;
  emitAlone?: EmitAlone;
  /** Tunables (tests shrink them). */
  cacheSize?: number;
  negativeTtlMs?: number;
  positiveTtlMs?: number;
  touchFlushMs?: number;
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
  /** The pool the key spends from, with its refill rule; null without credits. */
  credits: {
    poolId: string;
    interval: 'daily' | 'monthly' | null;
    amount: number | null;
  } | null;
  meta: Record<string, unknown>;
  client: ClientSnapshot;
  cachedAtMs: number;
  /**
   * Credits ran out: until then (epoch ms; Infinity without refill) calls are refused before the
   * rate limiter, so a client retrying on USAGE_EXCEEDED does not also fill its window.
   */
  creditsOutUntil?: number;
}

/** A key's at-rest hash: SHA-256, lowercase hex. */
const KEY_HASH = /^[0-9a-f]{64}$/;

type VerifyOptions = { scopes?: string[]; ip?: string; endpoint?: string };

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
  const cache = new KeyCache<CachedKey>(deps.cacheSize ?? 50_000);
  const events = createKeyEvents(deps);
  const failures = createKeyFailures(deps);
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
    if (event.kind === 'budget') return;
    generation++;
    if (event.kind === 'client') cache.deleteClient(event.clientId);
    else cache.deleteKey(event.id);
  }
  function evictAll(): void {
    generation++;
    cache.clear();
    negative.clear();
  }
  const unsubscribe = changes?.subscribe(evict);
  const unresync = changes?.onResync(evictAll);

  // Legacy keys (imported, hash-only): while a deployment has none, a key without a valid
  // checksum is refused offline as always. The count is loaded at start and reloaded on every
  // key change; while unknown (a reload in flight) such a key is looked up in storage.
  let legacyKeys: number | null = null;
  let legacyGeneration = 0;
  function reloadLegacy(): void {
    const gen = ++legacyGeneration;
    legacyKeys = null;
    keysStore.countLegacy().then(
      (n) => {
        if (gen === legacyGeneration) legacyKeys = n.total;
      },
      (err: unknown) => logger.warn({ err }, 'could not count legacy keys'),
    );
  }
  reloadLegacy();
  const unsubscribeLegacy = changes?.subscribe((e) => e.kind === 'key' && reloadLegacy());
  const unresyncLegacy = changes?.onResync(reloadLegacy);
  const mayBeLegacy = () => legacyKeys !== 0;
  if (deps.registry) {
    new Gauge({
      name: 'keyplane_legacy_keys_active',
      help: 'Imported legacy keys still active (retire them by rolling)',
      registers: [deps.registry],
      async collect() {
        this.set((await keysStore.countLegacy()).active);
      },
    });
  }

  async function publish(kind: 'key' | 'client', id: string, clientId: string): Promise<void> {
    // Local subscribers (our own cache) are served synchronously inside publish.
    if (changes) await changes.publish({ kind, id, clientId });
    else {
      evict({ kind, id, clientId });
      if (kind === 'key') reloadLegacy();
    }
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
        row.credit_pool_id === null
          ? null
          : {
              poolId: row.credit_pool_id,
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
      await keysStore.refillCredits(c.poolId, c.amount, refillPeriodStart(c.interval, now));
    }
    const taken: TakenCredits | null = await keysStore.takeCredits(c.poolId, 1);
    if (!taken) return null;
    // credits.low: only the call that crosses a threshold writes anything more.
    await events.creditsTaken(
      { keyId: entry.id, clientId: entry.clientId, environment: entry.environment, ...c },
      taken,
    );
    return taken.remaining;
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
    if (keyPrefixOf(rawKey) !== keyPrefix) {
      if (!mayBeLegacy() || !isLegacyCandidate(rawKey)) return count(invalid('MALFORMED'));
    }
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
    // No checksum: only a legacy key may match, and anything else is still MALFORMED.
    const unchecked = rawKey !== null && !parseKey(rawKey);
    if (unchecked && !mayBeLegacy()) return count(invalid('MALFORMED'));
    const missing = unchecked ? 'MALFORMED' : 'NOT_FOUND';
    const neg = negative.get(hash);
    if (neg !== undefined && neg > nowMs) return count(invalid(missing));
    return load(hash).then((loaded) => {
      if (!loaded) {
        negative.set(hash, nowMs + negativeTtlMs);
        return count(invalid(missing));
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
      return count(
        invalid('USAGE_EXCEEDED', entry, {
          remaining: 0,
          creditsResetAt: resetAt,
          reason: 'credits',
        }),
      );
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
    if (rl instanceof Promise) return rl.then((r) => afterLimit(entry, auth, nowMs, r, opts));
    return afterLimit(entry, auth, nowMs, rl, opts);
  }

  function afterLimit(
    entry: CachedKey,
    auth: AuthContext,
    nowMs: number,
    rl: Awaited<ReturnType<RateLimitGate['check']>>,
    opts: VerifyOptions,
  ): MaybePromise<VerifyResult> {
    let ratelimit: VerifyResult['ratelimit'] = null;
    if (rl) {
      ratelimit = { limit: rl.limit, remaining: rl.remaining, reset: rl.reset };
      if (!rl.allowed) {
        const refused = count(invalid('RATE_LIMITED', entry, { ratelimit }));
        const emitted = events.rateLimited(auth, rl, opts.endpoint);
        return emitted ? emitted.then(() => refused) : refused;
      }
    }
    // Budgets: the call's price is reserved now (null: no budget applies, nothing waited for).
    const b = deps.budgetGate?.reserve(auth, opts.endpoint) ?? null;
    if (b instanceof Promise) return b.then((d) => afterBudget(entry, auth, nowMs, ratelimit, d));
    return afterBudget(entry, auth, nowMs, ratelimit, b);
  }

  function afterBudget(
    entry: CachedKey,
    auth: AuthContext,
    nowMs: number,
    ratelimit: VerifyResult['ratelimit'],
    decision: BudgetDecision | null,
  ): MaybePromise<VerifyResult> {
    if (decision && !decision.allowed) {
      return count(
        invalid('USAGE_EXCEEDED', entry, {
          ratelimit,
          reason: 'budget',
          budgetId: decision.budgetId,
          budgetResetAt: decision.resetAt,
        }),
      );
    }
    const hold: BudgetHold | null = decision?.hold ?? null;
    if (!entry.credits) return used(entry, auth, nowMs, ratelimit, null, hold);
    const credits = entry.credits;
    const now = new Date(nowMs);
    return takeCredit(entry, now).then(
      (remaining) => {
        if (remaining === null) {
          if (hold) deps.budgetGate!.cancel(hold);
          const resetAt = credits.interval ? nextRefillAt(credits.interval, now) : null;
          entry.creditsOutUntil = resetAt ?? Infinity;
          return count(
            invalid('USAGE_EXCEEDED', entry, {
              ratelimit,
              remaining: 0,
              creditsResetAt: resetAt,
              reason: 'credits',
            }),
          );
        }
        return used(entry, auth, nowMs, ratelimit, remaining, hold);
      },
      (err: unknown) => {
        if (hold) deps.budgetGate!.cancel(hold);
        throw err;
      },
    );
  }

  /** A call that passed every check: counted, and last_used_at noted for the next touch. */
  function used(
    entry: CachedKey,
    auth: AuthContext,
    nowMs: number,
    ratelimit: VerifyResult['ratelimit'],
    remaining: number | null,
    hold: BudgetHold | null = null,
  ): VerifyResult {
    touches.set(entry.id, nowMs);
    const result = valid(entry, auth, ratelimit, remaining);
    if (hold) result.budgetHold = hold;
    return count(result);
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

  async function mustFind(clientId: string, keyId: string): Promise<KeyRow> {
    // A malformed id names no key: answered without a query, exactly like a missing one.
    if (!isIdOf('key', keyId) || !isIdOf('client', clientId)) {
      throw new AppError('not_found', 'key not found');
    }
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
    inTx?: (row: KeyRow) => InTx | undefined,
  ): Promise<ApiKey> {
    const row = await mustFind(clientId, keyId);
    const updated_at = clock.now().toISOString();
    const changed = await keysStore.update(
      clientId,
      keyId,
      { ...patch, updated_at },
      { status: from },
      inTx?.({ ...row, ...patch, updated_at }),
    );
    if (changed) {
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
    if (!isIdOf('client', clientId)) throw new AppError('not_found', 'client not found');
    const client = await getClient(clientId);
    if (!client || client.status === 'deleted') throw new AppError('not_found', 'client not found');
    const { row, pool, apiKey } = buildKeyRow(keyPrefix, clientId, input, clock.now());
    await keysStore.insert(
      row,
      pool,
      events.inTx({ type: 'key.created', clientId, data: { key: keySummary(row) } }),
    );
    await audit.record({
      actor,
      action: 'key.created',
      targetType: 'key',
      targetId: row.id,
      clientId,
      data: { start: row.start, environment: row.environment, scopes: JSON.parse(row.scopes) },
    });
    return { key: toApiKey(withPool(row, pool)), apiKey };
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

  /** The calling key may be handed keyId's secret (a roll, a leak's replacement): not worth more. */
  async function assertMayRoll(auth: AuthContext, keyId: string): Promise<void> {
    await mustNotExceed(auth, powersOf(await get(auth.clientId, keyId)));
  }

  async function get(clientId: string, keyId: string): Promise<ApiKey> {
    return toApiKey(await mustFind(clientId, keyId));
  }

  /**
   * Revokes a key. `retire: true` revokes it for good: it is marked retired, so `reactivate`
   * refuses it, and an already revoked key is retired too. The leak scanner revokes a leaked
   * key this way, with a reason such as `leaked: <url>`.
   */
  async function revoke(
    clientId: string,
    keyId: string,
    actor: Actor,
    reason?: string | null,
    opts: { retire?: boolean } = {},
  ): Promise<ApiKey> {
    const at = clock.now().toISOString();
    const why = reason?.slice(0, 500) ?? null;
    if (!opts.retire) {
      return setStatus(
        clientId,
        keyId,
        'active',
        { status: 'revoked', revoked_at: at, revoked_reason: why },
        { actor, action: 'key.revoked', data: { reason: reason ?? null } },
        (after) => revokedEvent(after, reason ?? null, false),
      );
    }
    const before = await mustFind(clientId, keyId);
    const after: KeysTable = { ...before, status: 'revoked', retired_at: before.retired_at ?? at };
    const inTx = revokedEvent(after, reason ?? null, true);
    if (await keysStore.retire(clientId, keyId, at, why ?? 'retired', inTx)) {
      await publish('key', keyId, clientId);
      await audit.record({
        actor,
        action: 'key.revoked',
        targetType: 'key',
        targetId: keyId,
        clientId,
        data: { reason: reason ?? null, retired: true },
      });
    }
    return toApiKey(await mustFind(clientId, keyId));
  }

  function revokedEvent(row: KeysTable, reason: string | null, retired: boolean) {
    return events.inTx({
      type: 'key.revoked',
      clientId: row.client_id,
      data: { key: keySummary(row), reason, retired },
    });
  }

  /** Brings a revoked key back, unless it was retired (rolled or leaked): that is for good. */
  async function reactivate(clientId: string, keyId: string, actor: Actor): Promise<ApiKey> {
    const row = await mustFind(clientId, keyId);
    if (row.retired_at) {
      const why = row.rolled_to
        ? `it was rolled (replaced by ${row.rolled_to})`
        : `it was revoked for good${row.revoked_reason ? ` (${row.revoked_reason})` : ''}`;
      throw new AppError('conflict', `key ${keyId} cannot be reactivated: ${why}`, {
        context: { keyId, retiredAt: row.retired_at },
      });
    }
    return setStatus(
      clientId,
      keyId,
      'revoked',
      { status: 'active', revoked_at: null, revoked_reason: null },
      { actor, action: 'key.reactivated' },
    );
  }

  /**
   * Stripe-style roll: a new key with the same settings and the same credit pool; the old one
   * keeps working (and spending from that pool) until the grace deadline (0 = revoked at once),
   * and is retired: it can never be reactivated. Atomic: of two concurrent rolls of a key, one
   * wins and the other gets a conflict.
   */
  async function roll(
    clientId: string,
    keyId: string,
    actor: Actor,
    gracePeriodSeconds = 86_400,
  ): Promise<{ key: ApiKey; apiKey: string; rolled: ApiKey }> {
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0) {
      throw new AppError('validation_failed', 'gracePeriodSeconds must be a whole number ≥ 0');
    }
    const old = await mustFind(clientId, keyId);
    const now = clock.now();
    assertRollable(old, now);
    const s = toApiKey(old);
    const { row, apiKey } = buildKeyRow(
      keyPrefix,
      clientId,
      {
        name: s.name,
        description: s.description,
        environment: s.environment,
        scopes: s.scopes,
        ipAllowlist: s.ipAllowlist,
        expiresAt: s.expiresAt,
        rateLimit: s.rateLimit,
        meta: s.meta,
      },
      now,
      old.credit_pool_id,
    );
    const iso = now.toISOString();
    const graceEnd = new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString();
    const retired = { rolled_to: row.id, retired_at: iso, updated_at: iso };
    const oldPatch: Partial<KeysTable> =
      gracePeriodSeconds === 0
        ? { ...retired, status: 'revoked', revoked_at: iso, revoked_reason: 'rolled' }
        : {
            ...retired,
            expires_at: old.expires_at && old.expires_at < graceEnd ? old.expires_at : graceEnd,
          };
    const rolledRow: KeysTable = { ...old, ...oldPatch };
    const claimed = await keysStore.roll(
      clientId,
      keyId,
      oldPatch,
      row,
      events.inTx({
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
    await publish('key', keyId, clientId);
    await audit.record({
      actor,
      action: 'key.rolled',
      targetType: 'key',
      targetId: keyId,
      clientId,
      data: { newKeyId: row.id, gracePeriodSeconds },
    });
    return {
      key: toApiKey(await mustFind(clientId, row.id)),
      apiKey,
      rolled: toApiKey(await mustFind(clientId, keyId)),
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

  return {
    verify,
    verifyHash,
    create,

    /**
     * Stores a key another system issued, by its hash (src/import/). It verifies like any key;
     * a conflict when a key with this hash exists already (the import's idempotency).
     */
    /**
     * The operator's view of imported legacy keys: how many exist, how many are still active,
     * and how many of those were used in the last 30 days (the ones to retire by rolling).
     */
    async legacySummary(): Promise<{ total: number; active: number; usedLast30Days: number }> {
      const since = new Date(clock.nowMs() - 30 * 24 * 3600_000).toISOString();
      const [counts, used] = await Promise.all([
        keysStore.countLegacy(),
        keysStore.countLegacyUsedSince(since),
      ]);
      return { ...counts, usedLast30Days: used };
    },

    async importLegacy(clientId: string, input: LegacyKeyInput, actor: Actor): Promise<ApiKey> {
      const client = await getClient(clientId);
      if (!client || client.status === 'deleted')
        throw new AppError('not_found', 'client not found');
      const row = legacyKeyRow(clientId, input, clock.now());
      if (await keysStore.findByHash(row.key_hash)) {
        throw new AppError('conflict', 'a key with this hash exists already');
      }
      await keysStore.insert(row);
      await publish('key', row.id, clientId);
      await audit.record({
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
    },

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

    /**
     * Self-service roll (POST /v1/keys/:id/roll): rolling hands the caller the rolled key's new
     * secret, so the rolled key's powers may not exceed the caller's.
     */
    async rollOwn(auth: AuthContext, keyId: string, actor: Actor, gracePeriodSeconds?: number) {
      await assertMayRoll(auth, keyId);
      return roll(auth.clientId, keyId, actor, gracePeriodSeconds);
    },
    assertMayRoll,
    reportFailure: failures.reportFailure,

    async list(clientId: string, opts: { limit?: number; cursor?: string } = {}) {
      return readPage(
        { ...opts, defaultLimit: 100 },
        (limit) => keysStore.list(clientId, { limit, cursor: opts.cursor }),
        (rows) => rows.map(toApiKey),
        byId,
      );
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

    revoke,
    reactivate,
    roll,

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
      const owner = isIdOf('key', keyId) ? await keysStore.ownerOf(keyId) : null;
      if (!owner) throw new AppError('not_found', 'key not found');
      return owner;
    },

    /**
     * key.expiring notices due and credits.low left unwritten: `serve` runs this every minute
     * on every node; the markers in storage make each event go out once.
     */
    sweepNotices: (limit?: number) => events.sweep(limit),

    cacheStats: () => ({ positive: cache.size, negative: negative.size }),

    async close(): Promise<void> {
      clearInterval(touchTimer);
      unsubscribe?.();
      unresync?.();
      unsubscribeLegacy?.();
      unresyncLegacy?.();
      await flushTouches();
      await failures.close();
    },
  };
}

export type KeysService = ReturnType<typeof createKeysService>;
