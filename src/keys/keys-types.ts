import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { BudgetDecision, BudgetHold } from '../budgets/budgets-types.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';

export type KeyStatus = 'active' | 'revoked';

export type VerifyCode =
  | 'VALID'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'REVOKED'
  | 'EXPIRED'
  | 'CLIENT_SUSPENDED'
  | 'IP_NOT_ALLOWED'
  | 'INSUFFICIENT_SCOPE'
  | 'RATE_LIMITED'
  | 'USAGE_EXCEEDED';

export interface KeysTable {
  id: string;
  client_id: string;
  key_hash: string;
  start: string;
  name: string | null;
  description: string | null;
  environment: KeyEnvironment;
  /** JSON string[] */
  scopes: string;
  /** JSON string[] of CIDRs; empty = any address */
  ip_allowlist: string;
  expires_at: string | null;
  /** JSON {limit, windowSeconds} or null */
  rate_limit: string | null;
  /** the credit pool this key spends from (shared with the keys it was rolled from or to) */
  credit_pool_id: string | null;
  /** JSON object */
  meta: string;
  status: KeyStatus;
  revoked_at: string | null;
  revoked_reason: string | null;
  /** set when rolled: the key that replaced this one */
  rolled_to: string | null;
  /**
   * Set when the key is retired for good (rolled, or revoked with `retire: true`, e.g. leaked):
   * it can never be reactivated. A rolled key still works until its grace deadline.
   */
  retired_at: string | null;
  last_used_at: string | null;
  created_at: string;
  updated_at: string;
  /**
   * 1 = a legacy key imported by its hash alone (src/import/): it has no checksum, so it is
   * found by hash without the offline MALFORMED check. Absent on insert = 0.
   */
  legacy?: number;
  /** The last key.expiring notice sent: 7 or 1 (days before expiry); null none. */
  expiry_notice?: number | null;
}

/**
 * Credits, one row per pool: every key of a pool spends from `remaining` (a roll gives the new
 * key the old key's pool). Refilled to `refill_amount` once per period.
 */
export interface KeyCreditPoolsTable {
  id: string;
  client_id: string;
  remaining: number;
  refill_interval: 'daily' | 'monthly' | null;
  refill_amount: number | null;
  refilled_at: string | null;
  created_at: string;
  /** The last grant: the credits given at creation or by the last refill (credits.low's 100 %). */
  granted: number;
  /** Counts grants: a credits.low marker for an older grant never touches a newer one. */
  grant_seq: number;
  /** credits.low thresholds reported for the current grant: 0 none, 1 = 20 %, 2 = 0 %. */
  low_alerted: number;
}

export interface KeysTables {
  api_keys: KeysTable;
  key_credit_pools: KeyCreditPoolsTable;
}

/** A key as the store reads it: its row and its pool's credits (null without a pool). */
export interface KeyRow extends KeysTable {
  credits_remaining: number | null;
  refill_interval: 'daily' | 'monthly' | null;
  refill_amount: number | null;
  refilled_at: string | null;
}

/** Key metadata as the API shows it; never the key or its hash. */
export interface ApiKey {
  id: string;
  clientId: string;
  start: string;
  name: string | null;
  description: string | null;
  environment: KeyEnvironment;
  scopes: string[];
  ipAllowlist: string[];
  expiresAt: string | null;
  rateLimit: RateLimitSetting | null;
  credits: {
    remaining: number;
    refill: { interval: 'daily' | 'monthly'; amount: number } | null;
  } | null;
  meta: Record<string, unknown>;
  status: KeyStatus;
  revokedAt: string | null;
  revokedReason: string | null;
  /** set when the key can never be reactivated (rolled, or revoked as leaked) */
  retiredAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** An imported key of another format (hash only); rolling it issues a Keyplane key. */
  legacy: boolean;
}

/**
 * Who a verified client key belongs to: what `request.client` holds on client routes
 * (set by `requireClient` in src/http/client-auth.ts) and what the rate-limit gate sees.
 */
export interface AuthContext {
  clientId: string;
  clientName: string;
  clientTier: string;
  keyId: string;
  environment: KeyEnvironment;
  scopes: string[];
  /** The key's own limit, else the client's default, else null (tier/config default applies). */
  rateLimit: RateLimitSetting | null;
  meta: Record<string, unknown>;
}

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** epoch milliseconds when the window frees up */
  reset: number;
}

/** What `keys.verify` answers (and POST /admin/v1/verify, always 200). */
export interface VerifyResult {
  valid: boolean;
  code: VerifyCode;
  clientId: string | null;
  keyId: string | null;
  scopes: string[];
  environment: KeyEnvironment | null;
  ratelimit: RateLimitState | null;
  /** credits left, null when the key has no credit limit */
  remaining: number | null;
  /** USAGE_EXCEEDED: when credits come back (epoch ms), null when they never refill */
  creditsResetAt?: number | null;
  /** USAGE_EXCEEDED: what ran out, the key's credits or a hard budget */
  reason?: 'credits' | 'budget';
  /** reason `budget`: the budget, and when its period ends (epoch ms) */
  budgetId?: string;
  budgetResetAt?: number;
  /** valid: the price reserved on the client's budgets, settled after the call (null: none) */
  budgetHold?: BudgetHold | null;
  meta: Record<string, unknown>;
  /** present when valid */
  auth?: AuthContext;
}

/**
 * The rate-limit step of verification (issue 4 plugs its limiter in here; absent = no limit).
 * Called only for keys that passed every other check.
 */
export interface RateLimitGate {
  /** null when no limit applies to this key (then no RateLimit-* headers either). */
  check(
    auth: AuthContext,
    ctx: { endpoint?: string },
  ): MaybePromise<(RateLimitState & { allowed: boolean; windowMs?: number }) | null>;
}

/**
 * The budget step of verification (src/budgets/): reserves the call's price on the client's and
 * the key's budgets after the rate limit; null when no budget applies.
 */
export interface BudgetStep {
  reserve(auth: AuthContext, endpoint: string | undefined): MaybePromise<BudgetDecision | null>;
  /** Gives a reservation back when a later step refuses the call. */
  cancel(hold: BudgetHold): void;
}

/** A value, or a promise of it when it had to wait (callers `await` either). */
export type MaybePromise<T> = T | Promise<T>;

/** What verification needs to know about a key's client (asked of the clients service). */
export interface ClientSnapshot {
  id: string;
  name: string;
  tier: string;
  status: 'active' | 'suspended' | 'deleted';
  defaultRateLimit: RateLimitSetting | null;
}
