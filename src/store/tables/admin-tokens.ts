/**
 * The admin-tokens tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
export interface AdminTokensTable {
  id: string;
  name: string;
  token_hash: string;
  start: string;
  /** JSON array of scopes. */
  scopes: string;
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AdminTokensTables {
  admin_tokens: AdminTokensTable;
}
