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

export interface DashboardSession {
  id: string;
  kind: SessionKind;
  adminTokenId: string | null;
  keyHash: string | null;
  clientId: string | null;
  keyId: string | null;
  createdAt: string;
  expiresAt: string;
  lastSeenAt: string;
}

/** What a session is opened with: an admin token's id, or a verified key. */
export type OpenSessionInput =
  | { kind: 'operator'; adminTokenId: string }
  | { kind: 'client'; keyHash: string; clientId: string; keyId: string };

/** The cookie's name (SPEC §8, the dashboard contract). */
export const SESSION_COOKIE = 'kp_session';

/** Sessions last 12 hours from sign-in (no sliding renewal: sign in again). */
export const SESSION_TTL_SECONDS = 12 * 60 * 60;

/** The header every cookie-authenticated request must carry (CSRF defense in depth). */
export const DASHBOARD_HEADER = 'x-keyplane-dashboard';
