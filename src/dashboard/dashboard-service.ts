import type { Actor, AuditService } from '../audit/index.ts';
import type { Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import {
  hashSessionSecret,
  isExpired,
  isSessionSecret,
  newSessionSecret,
} from './dashboard-fns.ts';
import type { DashboardStore } from './dashboard-store.ts';
import {
  SESSION_TTL_SECONDS,
  type DashboardSession,
  type DashboardSessionsTable,
  type OpenSessionInput,
} from './dashboard-types.ts';

export interface DashboardServiceDeps {
  dashboardStore: DashboardStore;
  audit: AuditService;
  clock: Clock;
  /** Session lifetime (default 12 h). */
  ttlSeconds?: number;
}

/** last_seen_at is refreshed at most this often, so a dashboard request is not a write each time. */
const TOUCH_EVERY_MS = 60_000;

function toSession(r: DashboardSessionsTable): DashboardSession {
  return {
    id: r.id,
    kind: r.kind,
    adminTokenId: r.admin_token_id,
    keyHash: r.key_hash,
    clientId: r.client_id,
    keyId: r.key_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastSeenAt: r.last_seen_at,
  };
}

/**
 * Web dashboard sessions: open one after the HTTP face has checked the admin token or key,
 * look it up by its cookie value, close it. The cookie value is returned once by `open` and
 * only its hash is stored. Checking the token or key behind a session on each request is the
 * caller's job (admin-tokens and keys services), so revocations apply at once.
 */
export function createDashboardService(deps: DashboardServiceDeps) {
  const { dashboardStore, clock } = deps;
  const ctx: DashboardContext = { ...deps, ttlSeconds: deps.ttlSeconds ?? SESSION_TTL_SECONDS };

  return {
    ttlSeconds: ctx.ttlSeconds,

    /** Opens a session; answers the cookie value (shown once, never stored) and the session. */
    open: (input: OpenSessionInput, actor: Actor) => open(ctx, input, actor),

    /**
     * The live session behind a cookie value, or null (unknown, malformed or expired: an
     * expired session is deleted on sight). Never throws for bad input.
     */
    async lookup(secret: string): Promise<DashboardSession | null> {
      const row = await findLive(ctx, secret);
      if (!row) return null;
      const now = clock.now();
      if (now.getTime() - Date.parse(row.last_seen_at) > TOUCH_EVERY_MS) {
        row.last_seen_at = now.toISOString();
        await dashboardStore.touch(row.id, row.last_seen_at);
      }
      return toSession(row);
    },

    /**
     * Ends the session behind a cookie value (audited as its admin token or key); answers it,
     * or null when there was none.
     */
    close: (secret: string, ip: string | null) => close(ctx, secret, ip),

    /** Ends a session by id (its token or key no longer works). */
    async end(id: string): Promise<void> {
      await dashboardStore.deleteById(id);
    },

    /** Deletes every expired session; answers how many. */
    async expire(): Promise<number> {
      return dashboardStore.deleteExpired(clock.now().toISOString());
    },
  };
}

export type DashboardService = ReturnType<typeof createDashboardService>;

type DashboardContext = DashboardServiceDeps & { ttlSeconds: number };

async function findLive(
  ctx: DashboardContext,
  secret: string,
): Promise<DashboardSessionsTable | null> {
  if (!isSessionSecret(secret)) return null;
  const row = await ctx.dashboardStore.findByHash(hashSessionSecret(secret));
  if (!row) return null;
  if (isExpired(row.expires_at, ctx.clock.now().getTime())) {
    await ctx.dashboardStore.deleteById(row.id);
    return null;
  }
  return row;
}

async function open(
  ctx: DashboardContext,
  input: OpenSessionInput,
  actor: Actor,
): Promise<{ secret: string; session: DashboardSession }> {
  const now = ctx.clock.now();
  const iso = now.toISOString();
  // Sign-in is rare: a good moment to drop sessions nobody came back to.
  await ctx.dashboardStore.deleteExpired(iso);
  const secret = newSessionSecret();
  const row: DashboardSessionsTable = {
    id: newId('dsess', now.getTime()),
    token_hash: hashSessionSecret(secret),
    kind: input.kind,
    admin_token_id: input.kind === 'operator' ? input.adminTokenId : null,
    key_hash: input.kind === 'client' ? input.keyHash : null,
    client_id: input.kind === 'client' ? input.clientId : null,
    key_id: input.kind === 'client' ? input.keyId : null,
    created_at: iso,
    expires_at: new Date(now.getTime() + ctx.ttlSeconds * 1000).toISOString(),
    last_seen_at: iso,
  };
  await ctx.dashboardStore.insert(row);
  await ctx.audit.record({
    actor,
    action: 'dashboard.sign_in',
    targetType: 'dashboard_session',
    targetId: row.id,
    clientId: row.client_id,
    data: {
      kind: row.kind,
      adminTokenId: row.admin_token_id,
      keyId: row.key_id,
      expiresAt: row.expires_at,
    },
  });
  return { secret, session: toSession(row) };
}

async function close(
  ctx: DashboardContext,
  secret: string,
  ip: string | null,
): Promise<DashboardSession | null> {
  const row = await findLive(ctx, secret);
  if (!row || !(await ctx.dashboardStore.deleteById(row.id))) return null;
  const actor: Actor =
    row.kind === 'operator'
      ? { type: 'admin', id: row.admin_token_id!, ip }
      : { type: 'client', id: row.key_id!, ip };
  await ctx.audit.record({
    actor,
    action: 'dashboard.sign_out',
    targetType: 'dashboard_session',
    targetId: row.id,
    clientId: row.client_id,
    data: { kind: row.kind },
  });
  return toSession(row);
}
