import { AppError } from '../lib/errors.ts';
import { byId, readPage } from '../lib/page.ts';
import { mustFind, view, type CredentialsContext } from './credentials-context.ts';
import { clientViewOfTrailEntry, type TrailEntry } from './credentials-fns.ts';
import { PLATFORM_OWNER, type Credential, type CredentialSummary } from './credentials-types.ts';

export interface ListOptions {
  provider?: string;
  includeDeleted?: boolean;
  limit?: number;
  cursor?: string;
}

/** Metadata out (never a secret): one credential, a page of them, a summary, an audit trail. */
export function createCredentialsReads(ctx: CredentialsContext) {
  return {
    get: async (owner: string, id: string): Promise<Credential> =>
      view(ctx, await mustFind(ctx, owner, id)),
    list: (owner: string, opts: ListOptions = {}) => list(ctx, owner, opts),
    summary: (clientId: string) => summary(ctx, clientId),
    auditTrail: (
      owner: string,
      id: string,
      opts: { limit?: number; cursor?: string } = {},
      as: 'client' | 'operator' = 'operator',
    ) => auditTrail(ctx, owner, id, opts, as),
    /** Operator tools (CLI): whose credential an id is. Never used on a client path. */
    ownerOf: async (id: string): Promise<string> => {
      const owner = await ctx.store.ownerOf(id);
      if (!owner) throw new AppError('not_found', 'credential not found');
      return owner;
    },
  };
}

async function list(
  ctx: CredentialsContext,
  owner: string,
  opts: ListOptions,
): Promise<{ data: Credential[]; nextCursor: string | null }> {
  return readPage(
    opts,
    (limit) => ctx.store.list(owner, { ...opts, limit }),
    (rows) => rows.map((row) => view(ctx, row)),
    byId,
  );
}

async function summary(ctx: CredentialsContext, clientId: string): Promise<CredentialSummary> {
  const rows = await ctx.store.summary(clientId);
  const providers: CredentialSummary['providers'] = {};
  let total = 0;
  for (const r of rows) {
    providers[r.provider] = { total: r.total, active: r.active, verified: r.verified };
    total += r.total;
  }
  return { clientId, totalCredentials: total, providers };
}

/**
 * A credential's own audit trail (also after deletion). The `client` view hides who the
 * operator is (see clientViewOfTrailEntry); the `operator` view shows every detail.
 */
async function auditTrail(
  ctx: CredentialsContext,
  owner: string,
  id: string,
  opts: { limit?: number; cursor?: string },
  as: 'client' | 'operator',
): Promise<{ data: TrailEntry[]; nextCursor: string | null }> {
  await mustFind(ctx, owner, id);
  const cursor = opts.cursor !== undefined ? Number(opts.cursor) : undefined;
  if (cursor !== undefined && !Number.isInteger(cursor)) {
    throw new AppError('validation_failed', 'cursor: not a cursor from this list');
  }
  const page = await ctx.audit.list({
    clientId: owner === PLATFORM_OWNER ? undefined : owner,
    targetId: id,
    limit: opts.limit,
    cursor,
  });
  const data = page.data.map((e): TrailEntry => ({
    id: e.id,
    createdAt: e.createdAt,
    action: e.action,
    actorType: e.actorType,
    actorId: e.actorId,
    ip: e.ip,
    data: e.data,
  }));
  return {
    data: as === 'client' ? data.map(clientViewOfTrailEntry) : data,
    nextCursor: page.nextCursor,
  };
}
