import { Counter, type Registry } from 'prom-client';
import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { BudgetDecision, BudgetHold } from '../budgets/index.ts';
import type { Clock } from '../lib/clock.ts';
import { hashKey, keyPrefixOf, parseKey } from '../lib/key-format.ts';
import type { KeyEvents } from './key-events.ts';
import { parseJson } from './key-rows.ts';
import { KEY_HASH } from './keys-context.ts';
import {
  compileAllowlist,
  hasScopes,
  ipAllowed,
  nextRefillAt,
  refillPeriodStart,
} from './keys-fns.ts';
import type { KeysStore, TakenCredits } from './keys-store.ts';
import type {
  AuthContext,
  BudgetStep,
  ClientSnapshot,
  MaybePromise,
  RateLimitGate,
  VerifyCode,
  VerifyResult,
} from './keys-types.ts';
import {
  createVerifyCache,
  type CachedKey,
  type VerifyCacheDeps,
  type VerifyMemory,
} from './keys-verify-cache.ts';
import { isLegacyCandidate } from './legacy-keys-fns.ts';

export interface KeyVerifierDeps extends VerifyCacheDeps {
  clock: Clock;
  keyPrefix: string;
  getClient: (clientId: string) => Promise<ClientSnapshot | null>;
  rateLimitGate?: RateLimitGate | null;
  budgetGate?: BudgetStep | null;
  negativeTtlMs?: number;
  positiveTtlMs?: number;
}

export type VerifyOptions = { scopes?: string[]; ip?: string; endpoint?: string };

interface VerifyContext {
  keysStore: KeysStore;
  clock: Clock;
  keyPrefix: string;
  getClient: (clientId: string) => Promise<ClientSnapshot | null>;
  rateLimitGate: RateLimitGate | null;
  budgetGate: BudgetStep | null;
  positiveTtlMs: number;
  negativeTtlMs: number;
  events: KeyEvents;
  memory: VerifyMemory;
  verifications: Counter<'outcome'> | null;
}

type RateLimited = Awaited<ReturnType<RateLimitGate['check']>>;

/**
 * The hot path: `verify` (a raw key) and `verifyHash` (a dashboard session's key hash), with
 * the cache that answers a known key without storage. See docs/ARCHITECTURE.md.
 */
export function createKeyVerifier(deps: KeyVerifierDeps, events: KeyEvents) {
  const cache = createVerifyCache(deps);
  const ctx: VerifyContext = {
    keysStore: deps.keysStore,
    clock: deps.clock,
    keyPrefix: deps.keyPrefix,
    getClient: deps.getClient,
    rateLimitGate: deps.rateLimitGate ?? null,
    budgetGate: deps.budgetGate ?? null,
    positiveTtlMs: deps.positiveTtlMs ?? 60_000,
    negativeTtlMs: deps.negativeTtlMs ?? 2_000,
    events,
    memory: cache.memory,
    verifications: verificationsCounter(deps.registry),
  };
  return {
    /**
     * Verifies a key: the outcome codes of SPEC §2. The answer is a plain value when nothing
     * had to wait (the key cached, an in-process rate limit, no credits: the hot path makes no
     * promise), else a promise; callers `await` it either way.
     */
    verify: (rawKey: unknown, opts: VerifyOptions = {}) => verify(ctx, rawKey, opts),
    /**
     * Verification by the key's at-rest hash: a dashboard client session holds the hash, never
     * the key, and goes through the same checks on every request. `consume: false` stops
     * before the rate limit and credits (a session asking who it is uses nothing up).
     */
    verifyHash: (hash: string, opts: VerifyOptions & { consume?: boolean } = {}) =>
      verifyHash(ctx, hash, opts),
    publish: cache.publish,
    cacheStats: cache.cacheStats,
    close: cache.close,
  };
}

function verificationsCounter(registry: Registry | undefined): Counter<'outcome'> | null {
  return registry
    ? new Counter({
        name: 'keyplane_verifications_total',
        help: 'Key verifications by outcome code',
        labelNames: ['outcome'] as const,
        registers: [registry],
      })
    : null;
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

function count(ctx: VerifyContext, result: VerifyResult): VerifyResult {
  ctx.verifications?.inc({ outcome: result.code });
  return result;
}

function verify(
  ctx: VerifyContext,
  rawKey: unknown,
  opts: VerifyOptions,
): MaybePromise<VerifyResult> {
  // Shape first; the checksum only when the cache does not know the key (a cached hash was
  // a whole, valid key), and always before the negative cache or storage.
  if (keyPrefixOf(rawKey) !== ctx.keyPrefix) {
    if (!ctx.memory.mayBeLegacy() || !isLegacyCandidate(rawKey))
      return count(ctx, invalid('MALFORMED'));
  }
  return verifyHashed(ctx, hashKey(rawKey as string), rawKey, opts, true);
}

function verifyHash(
  ctx: VerifyContext,
  hash: string,
  opts: VerifyOptions & { consume?: boolean },
): MaybePromise<VerifyResult> {
  if (!KEY_HASH.test(hash)) return count(ctx, invalid('MALFORMED'));
  return verifyHashed(ctx, hash, null, opts, opts.consume ?? true);
}

/**
 * Every check after hashing, shared by verify and verifyHash. `rawKey` is null for a hash
 * (its key passed the checksum when the session was opened).
 */
function verifyHashed(
  ctx: VerifyContext,
  hash: string,
  rawKey: unknown,
  opts: VerifyOptions,
  consume: boolean,
): MaybePromise<VerifyResult> {
  const { cache, negative } = ctx.memory;
  const nowMs = ctx.clock.nowMs();
  let entry = cache.get(hash);
  if (entry && nowMs - entry.cachedAtMs > ctx.positiveTtlMs) {
    cache.delete(hash);
    entry = undefined;
  }
  if (entry) return checkEntry(ctx, entry, nowMs, opts, consume);
  // No checksum: only a legacy key may match, and anything else is still MALFORMED.
  const unchecked = rawKey !== null && !parseKey(rawKey);
  if (unchecked && !ctx.memory.mayBeLegacy()) return count(ctx, invalid('MALFORMED'));
  const missing = unchecked ? 'MALFORMED' : 'NOT_FOUND';
  const neg = negative.get(hash);
  if (neg !== undefined && neg > nowMs) return count(ctx, invalid(missing));
  return load(ctx, hash).then((loaded) => {
    if (!loaded) {
      negative.set(hash, nowMs + ctx.negativeTtlMs);
      return count(ctx, invalid(missing));
    }
    return checkEntry(ctx, loaded, nowMs, opts, consume);
  });
}

/** A key from storage into the cache (unless a change event came meanwhile). */
async function load(ctx: VerifyContext, hash: string): Promise<CachedKey | null> {
  const gen = ctx.memory.generation;
  const row = await ctx.keysStore.findByHash(hash);
  if (!row) return null;
  const client = await ctx.getClient(row.client_id);
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
    cachedAtMs: ctx.clock.nowMs(),
  };
  if (gen === ctx.memory.generation) ctx.memory.cache.set(hash, entry);
  return entry;
}

/** The refusal of a key whose credits ran out (remembered on the entry until the refill). */
function creditsOut(
  ctx: VerifyContext,
  entry: CachedKey,
  ratelimit: VerifyResult['ratelimit'],
  resetAt: number | null,
): VerifyResult {
  return count(
    ctx,
    invalid('USAGE_EXCEEDED', entry, {
      ratelimit,
      remaining: 0,
      creditsResetAt: resetAt,
      reason: 'credits',
    }),
  );
}

/** The checks on a known key, then its rate limit and credits when `consume`. */
function checkEntry(
  ctx: VerifyContext,
  entry: CachedKey,
  nowMs: number,
  opts: VerifyOptions,
  consume: boolean,
): MaybePromise<VerifyResult> {
  if (entry.revoked) return count(ctx, invalid('REVOKED', entry));
  if (entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs)
    return count(ctx, invalid('EXPIRED', entry));
  if (entry.client.status !== 'active') return count(ctx, invalid('CLIENT_SUSPENDED', entry));
  if (!ipAllowed(entry.allowlist, opts.ip)) return count(ctx, invalid('IP_NOT_ALLOWED', entry));
  if (!hasScopes(entry.scopes, opts.scopes))
    return count(ctx, invalid('INSUFFICIENT_SCOPE', entry));
  // (Only a call uses credits: a dashboard session asking who it is does not need any.)
  if (entry.creditsOutUntil !== undefined && consume && nowMs < entry.creditsOutUntil) {
    const resetAt = Number.isFinite(entry.creditsOutUntil) ? entry.creditsOutUntil : null;
    return creditsOut(ctx, entry, null, resetAt);
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
  const rl = ctx.rateLimitGate?.check(auth, { endpoint: opts.endpoint }) ?? null;
  if (rl instanceof Promise) return rl.then((r) => afterLimit(ctx, entry, auth, nowMs, r, opts));
  return afterLimit(ctx, entry, auth, nowMs, rl, opts);
}

function afterLimit(
  ctx: VerifyContext,
  entry: CachedKey,
  auth: AuthContext,
  nowMs: number,
  rl: RateLimited,
  opts: VerifyOptions,
): MaybePromise<VerifyResult> {
  let ratelimit: VerifyResult['ratelimit'] = null;
  if (rl) {
    ratelimit = { limit: rl.limit, remaining: rl.remaining, reset: rl.reset };
    if (!rl.allowed) {
      const refused = count(ctx, invalid('RATE_LIMITED', entry, { ratelimit }));
      const emitted = ctx.events.rateLimited(auth, rl, opts.endpoint);
      return emitted ? emitted.then(() => refused) : refused;
    }
  }
  // Budgets: the call's price is reserved now (null: no budget applies, nothing waited for).
  const b = ctx.budgetGate?.reserve(auth, opts.endpoint) ?? null;
  if (b instanceof Promise)
    return b.then((d) => afterBudget(ctx, entry, auth, nowMs, ratelimit, d));
  return afterBudget(ctx, entry, auth, nowMs, ratelimit, b);
}

function afterBudget(
  ctx: VerifyContext,
  entry: CachedKey,
  auth: AuthContext,
  nowMs: number,
  ratelimit: VerifyResult['ratelimit'],
  decision: BudgetDecision | null,
): MaybePromise<VerifyResult> {
  if (decision && !decision.allowed) {
    return count(
      ctx,
      invalid('USAGE_EXCEEDED', entry, {
        ratelimit,
        reason: 'budget',
        budgetId: decision.budgetId,
        budgetResetAt: decision.resetAt,
      }),
    );
  }
  const hold: BudgetHold | null = decision?.hold ?? null;
  if (!entry.credits) return used(ctx, entry, auth, nowMs, ratelimit, null, hold);
  return spendCredit(ctx, entry, auth, nowMs, ratelimit, hold);
}

/** A key with credits: one is taken (refilled first when its period turned), or refused. */
function spendCredit(
  ctx: VerifyContext,
  entry: CachedKey,
  auth: AuthContext,
  nowMs: number,
  ratelimit: VerifyResult['ratelimit'],
  hold: BudgetHold | null,
): Promise<VerifyResult> {
  const credits = entry.credits!;
  const now = new Date(nowMs);
  return takeCredit(ctx, entry, now).then(
    (remaining) => {
      if (remaining === null) {
        if (hold) ctx.budgetGate!.cancel(hold);
        const resetAt = credits.interval ? nextRefillAt(credits.interval, now) : null;
        entry.creditsOutUntil = resetAt ?? Infinity;
        return creditsOut(ctx, entry, ratelimit, resetAt);
      }
      return used(ctx, entry, auth, nowMs, ratelimit, remaining, hold);
    },
    (err: unknown) => {
      if (hold) ctx.budgetGate!.cancel(hold);
      throw err;
    },
  );
}

async function takeCredit(ctx: VerifyContext, entry: CachedKey, now: Date): Promise<number | null> {
  const c = entry.credits!;
  if (c.interval && c.amount !== null) {
    await ctx.keysStore.refillCredits(c.poolId, c.amount, refillPeriodStart(c.interval, now));
  }
  const taken: TakenCredits | null = await ctx.keysStore.takeCredits(c.poolId, 1);
  if (!taken) return null;
  // credits.low: only the call that crosses a threshold writes anything more.
  await ctx.events.creditsTaken(
    { keyId: entry.id, clientId: entry.clientId, environment: entry.environment, ...c },
    taken,
  );
  return taken.remaining;
}

/** A call that passed every check: counted, and last_used_at noted for the next touch. */
function used(
  ctx: VerifyContext,
  entry: CachedKey,
  auth: AuthContext,
  nowMs: number,
  ratelimit: VerifyResult['ratelimit'],
  remaining: number | null,
  hold: BudgetHold | null = null,
): VerifyResult {
  ctx.memory.touch(entry.id, nowMs);
  const result = valid(entry, auth, ratelimit, remaining);
  if (hold) result.budgetHold = hold;
  return count(ctx, result);
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
