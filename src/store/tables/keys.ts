import type { KeyEnvironment } from '../../lib/key-format.ts';

/**
 * The keys tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
export type KeyStatus = 'active' | 'revoked';

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
