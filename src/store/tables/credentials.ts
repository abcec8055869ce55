/**
 * The credentials tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
export interface CredentialsTable {
  id: string;
  /** A client id, or PLATFORM_OWNER for the operator's own credentials. */
  client_id: string;
  provider: string;
  name: string;
  /** `name` while the credential is not deleted, null after: unique per (client, provider). */
  active_name: string | null;
  type: string;
  permissions: string;
  /** JSON string[]: the names of the secret's fields (never their values). */
  fields: string;
  /** `v1.{iv}.{tag}.{ciphertext}` (base64url): the secret under the data key. */
  secret: string;
  /** `v1.{iv}.{tag}.{ciphertext}`: the data key under master key `master_key_id`; null once shredded. */
  wrapped_key: string | null;
  master_key_id: string | null;
  is_active: number;
  is_verified: number;
  last_verified_at: string | null;
  verify_status: string | null;
  verify_message: string | null;
  last_used_at: string | null;
  usage_count: number;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface CredentialsTables {
  credentials: CredentialsTable;
}
