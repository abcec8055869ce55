/**
 * The dashboard module's public surface: web dashboard sessions (open, look up by cookie,
 * close), the cookie helpers and the names the HTTP face checks. Other modules import from
 * here, never from the module's files.
 */
export { createDashboardService } from './dashboard-service.ts';
export { createDashboardStore } from './dashboard-store.ts';
export { clearedCookie, cookieValues, sessionCookie } from './dashboard-fns.ts';
export {
  DASHBOARD_HEADER,
  SESSION_COOKIE,
  type DashboardSession,
  type SessionKind,
} from './dashboard-types.ts';
