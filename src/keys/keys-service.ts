import type { BlockList } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditService } from '../audit/audit-service.ts';
import type { BudgetDecision, BudgetHold } from '../budgets/budgets-types.ts';
import type { RateLimitSetting } from '../clients/clients-types.ts';
import type { ChangeEvent, ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { hashKey, keyPrefixOf, parseKey, type KeyEnvironment } from '../lib/key-format.ts';
import { parseJson } from './key-rows.ts';
import {
  compileAllowlist,
  hasScopes,
  ipAllowed,
  Lru,
  nextRefillAt,
  refillPeriodStart,
} from './keys-fns.ts';
import { KeyCache } from './key-cache.ts';
import type { EmitAlone, EmitEvent } from '../webhooks/webhooks-service.ts';
import { createKeyEvents } from './key-events.ts';
import { createKeyFailures } from './keys-failures.ts';
import { KEY_HASH, type KeysContext } from './keys-context.ts';
import { createLegacyKeys } from './keys-legacy.ts';
import { createKeyAdmin } from './keys-manage.ts';
import { createKeySelfService } from './keys-self-service.ts';
import type { KeysStore, TakenCredits } from './keys-store.ts';
import { isLegacyCandidate } from './legacy-keys-fns.ts';
import type {
  AuthContext,
  BudgetStep,
  ClientSnapshot,
  MaybePromise,
  RateLimitGate,
  VerifyCode,
  VerifyResult,
} from './keys-types.ts';

export type { CreateKeyInput } from './key-rows.ts';
export type { ClientSnapshot } from './keys-types.ts';
export { toApiKey } from './key-rows.ts';

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

  const ctx: KeysContext = { keysStore, audit, clock, keyPrefix, getClient, events, publish };
  return {
    verify,
    verifyHash,
    ...createKeyAdmin(ctx),
    ...createLegacyKeys(ctx),
    ...createKeySelfService(ctx),
    reportFailure: failures.reportFailure,

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
