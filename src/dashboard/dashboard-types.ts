import type { SessionKind } from '../store/tables/dashboard.ts';
export type {
  SessionKind,
  DashboardSessionsTable,
  DashboardTables,
} from '../store/tables/dashboard.ts';

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
