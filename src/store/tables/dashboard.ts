/**
 * The dashboard tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
/**
 * A signed-in web dashboard: the browser holds only a random session id in an HttpOnly cookie;
 * the row holds its SHA-256 and what the session was opened with, so every request re-checks
 * the admin token or the client key behind it (a revoked one stops the session at once).
 */
export interface DashboardSessionsTable {
  id: string;
  /** SHA-256 (hex) of the cookie value; the value itself is never stored. */
  token_hash: string;
  kind: SessionKind;
  /** operator sessions: the admin token they were opened with. */
  admin_token_id: string | null;
  /** client sessions: the key's at-rest hash, verified through the keys service each request. */
  key_hash: string | null;
  client_id: string | null;
  key_id: string | null;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
}

export interface DashboardTables {
  dashboard_sessions: DashboardSessionsTable;
}

export type SessionKind = 'operator' | 'client';
