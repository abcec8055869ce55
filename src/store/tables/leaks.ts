/**
 * The leaks tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
/** What happens to a key reported as leaked (per client; the default comes from config). */
export const LEAK_POLICIES = ['revoke', 'roll', 'notify'] as const;

export type LeakPolicy = (typeof LEAK_POLICIES)[number];

/** Who reported: a secret scanning partner, an operator (any other scanner), or `keyplane scan`. */
export type LeakSource = 'github' | 'gitlab' | 'operator' | 'scan';

/** What a report did to the key: the policy's action, or nothing when it had been acted on. */
export type LeakAction = 'revoked' | 'rolled' | 'notified' | 'already_revoked' | 'duplicate';

/**
 * One row per key hash ever reported and found: what makes a report idempotent (the same token
 * reported twice acts once). Unknown tokens and tokens whose checksum fails are not stored.
 */
export interface LeakReportsTable {
  id: string;
  /** SHA-256 hex of the reported token: the key's at-rest hash. */
  token_hash: string;
  client_id: string;
  key_id: string;
  /** The key's display start, for the emails and the list. */
  key_start: string;
  source: LeakSource;
  token_type: string | null;
  /** Where the scanner saw it (a commit URL, file:line…). */
  url: string | null;
  action: LeakAction;
  /** `roll`: the replacement key's id. */
  new_key_id: string | null;
  created_at: string;
}

/** A partner signature already accepted: a replayed body is refused within the window. */
export interface LeakSignaturesTable {
  /** SHA-256 hex of the signature bytes. */
  digest: string;
  seen_at: string;
}

/** A client's own leak policy (absent: the configured default). */
export interface LeakPoliciesTable {
  client_id: string;
  policy: LeakPolicy;
  updated_at: string;
}

/**
 * A rolled key's replacement, sealed with the master keyring until the client's first view in
 * the portal, then deleted: the new key is shown once and never stored in the clear.
 */
export interface LeakSealedKeysTable {
  key_id: string;
  client_id: string;
  replaced_key_id: string;
  master_key_id: string;
  /** `v1.{iv}.{tag}.{ciphertext}` (base64url parts), AES-256-GCM bound to client and key ids. */
  sealed: string;
  created_at: string;
}

export interface LeaksTables {
  leak_reports: LeakReportsTable;
  leak_signatures: LeakSignaturesTable;
  leak_policies: LeakPoliciesTable;
  leak_sealed_keys: LeakSealedKeysTable;
}
