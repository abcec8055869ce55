import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { BudgetDecision, BudgetHold } from '../budgets/index.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { MaybePromise } from '../lib/maybe-promise.ts';
import type { KeyStatus, KeysTable } from '../store/tables/keys.ts';
export type {
  KeyStatus,
  KeysTable,
  KeyCreditPoolsTable,
  KeysTables,
} from '../store/tables/keys.ts';

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

export type { MaybePromise } from '../lib/maybe-promise.ts';

/** What verification needs to know about a key's client (asked of the clients service). */
export interface ClientSnapshot {
  id: string;
  name: string;
  tier: string;
  status: 'active' | 'suspended' | 'deleted';
  defaultRateLimit: RateLimitSetting | null;
}
