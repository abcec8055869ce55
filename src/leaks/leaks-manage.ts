import type { Actor } from '../audit/index.ts';
import type { ApiKey } from '../keys/index.ts';
import { byId, readPage } from '../lib/page.ts';
import type { LeaksContext } from './leaks-context.ts';
import { openSealedKey } from './leaks-fns.ts';
import type { LeakPolicy, LeakReport, LeakReportsTable } from './leaks-types.ts';

function toReport(r: LeakReportsTable): LeakReport {
  return {
    id: r.id,
    clientId: r.client_id,
    keyId: r.key_id,
    keyStart: r.key_start,
    source: r.source,
    tokenType: r.token_type,
    url: r.url,
    action: r.action,
    newKeyId: r.new_key_id,
    createdAt: r.created_at,
  };
}

/** A client's leak policy, the reports, and the rolled keys' replacements waiting to be shown. */
export function createLeaksManage(ctx: LeaksContext) {
  const { leaksStore, clients, settings } = ctx;
  return {
    async getPolicy(clientId: string) {
      await clients.get(clientId);
      const own = await leaksStore.getPolicy(clientId);
      return { clientId, policy: own ?? settings.policy, default: own === null };
    },

    /** Sets a client's policy; null goes back to the configured default. */
    setPolicy: (clientId: string, policy: LeakPolicy | null, actor: Actor) =>
      setPolicy(ctx, clientId, policy, actor),

    async listReports(opts: { clientId?: string; limit?: number; cursor?: string } = {}) {
      return readPage(
        opts,
        (limit) => leaksStore.listReports({ ...opts, limit }),
        (rows) => rows.map(toReport),
        byId,
      );
    },

    /**
     * The client portal's one view of its rolled keys' replacements: each is opened and deleted
     * in the same call, so it is shown once. A replacement carries the leaked key's powers, so
     * the viewing key may take only those it could have rolled itself (`mayReceive`).
     */
    revealRolledKeys: (
      clientId: string,
      actor: Actor,
      mayReceive: (keyId: string) => Promise<boolean>,
    ) => revealRolledKeys(ctx, clientId, actor, mayReceive),

    pendingRolledKeys: (clientId: string) => leaksStore.countSealedKeys(clientId),

    forgetClient: (clientId: string) => leaksStore.forgetClient(clientId),
  };
}

async function setPolicy(
  ctx: LeaksContext,
  clientId: string,
  policy: LeakPolicy | null,
  actor: Actor,
) {
  const { leaksStore } = ctx;
  await ctx.clients.get(clientId);
  if (policy === null) await leaksStore.clearPolicy(clientId);
  else
    await leaksStore.setPolicy({
      client_id: clientId,
      policy,
      updated_at: ctx.clock.now().toISOString(),
    });
  await ctx.audit.record({
    actor,
    action: 'leaks.policy_set',
    targetType: 'client',
    targetId: clientId,
    clientId,
    data: { policy },
  });
  return { clientId, policy: policy ?? ctx.settings.policy, default: policy === null };
}

async function revealRolledKeys(
  ctx: LeaksContext,
  clientId: string,
  actor: Actor,
  mayReceive: (keyId: string) => Promise<boolean>,
) {
  const { leaksStore, keyring } = ctx;
  const out: Array<{ key: ApiKey; apiKey: string; replacedKeyId: string }> = [];
  for (const pending of await leaksStore.listSealedKeys(clientId)) {
    if (!(await mayReceive(pending.key_id))) continue;
    const r = await leaksStore.takeSealedKey(clientId, pending.key_id);
    const master = r && keyring.keys.get(r.master_key_id);
    if (!r || !master) {
      if (r)
        ctx.logger.error({ keyId: r.key_id }, 'a rolled key was sealed under a lost master key');
      continue;
    }
    const ids = { clientId, keyId: r.key_id, masterKeyId: r.master_key_id };
    const apiKey = openSealedKey(r.sealed, master, ids);
    const key = await ctx.keys.get(clientId, r.key_id).catch(() => null);
    if (!key) continue; // the replacement was deleted since: nothing left to show
    out.push({ key, apiKey, replacedKeyId: r.replaced_key_id });
    await ctx.audit.record({
      actor,
      action: 'key.replacement_shown',
      targetType: 'key',
      targetId: r.key_id,
      clientId,
      data: { replacedKeyId: r.replaced_key_id },
    });
  }
  return { data: out };
}
