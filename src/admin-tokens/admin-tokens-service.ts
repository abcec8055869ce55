import type { Actor, AuditService } from '../audit/index.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { generateKey, hashKey, parseKey } from '../lib/key-format.ts';
import type { MetaStore } from '../store/meta-store.ts';
import type { AdminTokensStore } from './admin-tokens-store.ts';
import { ADMIN_SCOPES, type AdminToken, type AdminTokensTable } from './admin-tokens-types.ts';

export interface AdminTokensServiceDeps {
  adminTokensStore: AdminTokensStore;
  metaStore: MetaStore;
  audit: AuditService;
  clock: Clock;
  keyPrefix: string;
}

/** last_used_at is refreshed at most this often, so checking a token is not a write each time. */
const TOUCH_EVERY_MS = 60_000;

function toToken(r: AdminTokensTable): AdminToken {
  return {
    id: r.id,
    name: r.name,
    start: r.start,
    scopes: JSON.parse(r.scopes) as string[],
    createdAt: r.created_at,
    createdBy: r.created_by,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    status: r.revoked_at ? 'revoked' : 'active',
  };
}

export function hasAdminScope(token: Pick<AdminToken, 'scopes'>, scope: string): boolean {
  return token.scopes.includes('admin') || token.scopes.includes(scope);
}

type AdminTokensContext = AdminTokensServiceDeps & { prefix: string };
type CreateInput = { name: string; scopes?: string[]; actor: Actor };

/** The operator's admin tokens: minting, the bootstrap token, revoking, authenticating. */
export function createAdminTokensService(deps: AdminTokensServiceDeps) {
  const { adminTokensStore, metaStore, clock } = deps;
  const ctx: AdminTokensContext = { ...deps, prefix: `${deps.keyPrefix}adm` };

  return {
    create: (input: CreateInput) => create(ctx, input),

    /**
     * On the first start of an empty store, exactly one node creates the bootstrap token and
     * gets it back to print once; every other start gets null. A store that already holds admin
     * tokens (made with `keyplane admin-tokens create` before the first start) is not empty.
     */
    async bootstrap(): Promise<{ adminToken: AdminToken; token: string } | null> {
      if (!(await metaStore.claim('bootstrap_admin_token', clock.now().toISOString()))) return null;
      if ((await adminTokensStore.list()).length > 0) return null;
      return create(ctx, {
        name: 'bootstrap',
        scopes: ['admin'],
        actor: { type: 'system', id: 'bootstrap' },
      });
    },

    async list(): Promise<AdminToken[]> {
      return (await adminTokensStore.list()).map(toToken);
    },

    /**
     * `by` is the token asking (HTTP): like minting, it may revoke only a token whose scopes it
     * holds, so `tokens:write` alone cannot take down an `admin` token. Without `by` (the CLI,
     * acting on the store as the operator) any token can be revoked.
     */
    revoke: (id: string, actor: Actor, by?: Pick<AdminToken, 'scopes'>) =>
      revoke(ctx, id, actor, by),

    /** The active token behind a bearer string, or null. Never throws for bad input. */
    async authenticate(bearer: string): Promise<AdminToken | null> {
      const parsed = parseKey(bearer);
      if (!parsed || parsed.prefix !== ctx.prefix) return null;
      return active(ctx, await adminTokensStore.findByHash(hashKey(bearer)));
    },

    /**
     * The active token with this id, or null: a dashboard operator session holds the id of the
     * token it was opened with and reloads it on every request, so a revocation counts at once.
     */
    async authenticateById(id: string): Promise<AdminToken | null> {
      return active(ctx, await adminTokensStore.findById(id));
    },
  };
}

export type AdminTokensService = ReturnType<typeof createAdminTokensService>;

/** The token when it is active (its last use refreshed now and then), else null. */
async function active(
  ctx: AdminTokensContext,
  row: AdminTokensTable | undefined | null,
): Promise<AdminToken | null> {
  if (!row || row.revoked_at) return null;
  const now = ctx.clock.now();
  if (!row.last_used_at || now.getTime() - Date.parse(row.last_used_at) > TOUCH_EVERY_MS) {
    await ctx.adminTokensStore.touch(row.id, now.toISOString());
  }
  return toToken(row);
}

async function create(
  ctx: AdminTokensContext,
  input: CreateInput,
): Promise<{ adminToken: AdminToken; token: string }> {
  const scopes = input.scopes?.length ? [...new Set(input.scopes)] : ['admin'];
  const unknown = scopes.filter((s) => !(ADMIN_SCOPES as readonly string[]).includes(s));
  if (unknown.length) {
    throw new AppError('validation_failed', `unknown scope(s): ${unknown.join(', ')}`, {
      context: { allowed: ADMIN_SCOPES },
    });
  }
  const name = input.name.trim();
  if (!name || name.length > 200)
    throw new AppError('validation_failed', 'name must be 1-200 characters');
  const now = ctx.clock.now();
  const token = generateKey(ctx.prefix, 'live');
  const row: AdminTokensTable = {
    id: newId('adminToken', now.getTime()),
    name,
    token_hash: hashKey(token),
    start: parseKey(token)!.start,
    scopes: JSON.stringify(scopes),
    created_at: now.toISOString(),
    created_by: `${input.actor.type}:${input.actor.id}`,
    last_used_at: null,
    revoked_at: null,
  };
  await ctx.adminTokensStore.insert(row);
  await ctx.audit.record({
    actor: input.actor,
    action: 'admin_token.created',
    targetType: 'admin_token',
    targetId: row.id,
    data: { name, scopes },
  });
  return { adminToken: toToken(row), token };
}

async function revoke(
  ctx: AdminTokensContext,
  id: string,
  actor: Actor,
  by?: Pick<AdminToken, 'scopes'>,
): Promise<AdminToken> {
  const { adminTokensStore: store } = ctx;
  const row = await store.findById(id);
  if (!row) throw new AppError('not_found', 'admin token not found');
  if (by) {
    const beyond = toToken(row).scopes.filter((s) => !hasAdminScope(by, s));
    if (beyond.length) {
      throw new AppError(
        'insufficient_scope',
        `cannot revoke a token holding scopes this admin token does not hold: ${beyond.join(', ')}`,
      );
    }
  }
  if (await store.revoke(id, ctx.clock.now().toISOString())) {
    await ctx.audit.record({
      actor,
      action: 'admin_token.revoked',
      targetType: 'admin_token',
      targetId: id,
    });
  }
  return toToken((await store.findById(id))!);
}
