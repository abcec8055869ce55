import type { Actor } from '../audit/index.ts';
import type { ApiKey } from '../keys/index.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { hashKey, keyPrefixOf, parseKey } from '../lib/key-format.ts';
import type { LeaksContext } from './leaks-context.ts';
import { exposureEmail, sealKey, sha256Hex, type FoundKey } from './leaks-fns.ts';
import type {
  LeakAction,
  LeakOutcome,
  LeakPolicy,
  LeakReportsTable,
  LeakSource,
  ReportedToken,
} from './leaks-types.ts';

export interface ReportOptions {
  source: LeakSource;
  actor: Actor;
  /** `keyplane scan --revoke`: revoke whatever the client's policy says. */
  policy?: LeakPolicy;
}

type Acted = 'revoked' | 'rolled' | 'notified';

/** Reporting tokens: checksum, lookup, the client's policy once, audit and email. */
export function createLeakReporter(ctx: LeaksContext) {
  return {
    report: (tokens: ReportedToken[], opts: ReportOptions) => report(ctx, tokens, opts),
    /** `keyplane scan --check`: whether each found key is live, revoked or unknown here. */
    check: (found: FoundKey[]) => check(ctx, found),
    /** Waits for the exposure emails still in flight. */
    async close(): Promise<void> {
      while (ctx.mails.size) await Promise.allSettled([...ctx.mails]);
    },
  };
}

export async function report(
  ctx: LeaksContext,
  tokens: ReportedToken[],
  opts: ReportOptions,
): Promise<LeakOutcome[]> {
  const { settings } = ctx;
  if (tokens.length > settings.maxTokens) {
    throw new AppError('payload_too_large', `at most ${settings.maxTokens} tokens per report`);
  }
  // The same token twice in one batch is one report; both entries get its answer.
  const done = new Map<string, Promise<LeakOutcome>>();
  const out: LeakOutcome[] = [];
  for (const t of tokens) {
    const type = t.type ?? null;
    // Checksum (and our prefix) first: a false positive costs no storage at all.
    if (keyPrefixOf(t.token) !== settings.keyPrefix || !parseKey(t.token)) {
      out.push(falsePositive(t.token, type));
      continue;
    }
    let outcome = done.get(t.token);
    if (!outcome) {
      outcome = reportOne(ctx, t, opts);
      done.set(t.token, outcome);
    }
    out.push({ ...(await outcome), tokenType: type });
  }
  await ctx.audit.record({
    actor: opts.actor,
    action: 'leaks.reported',
    targetType: 'leak_report',
    data: {
      source: opts.source,
      tokens: out.length,
      truePositives: out.filter((o) => o.label === 'true_positive').length,
    },
  });
  return out;
}

function falsePositive(token: string, type: string | null): LeakOutcome {
  return {
    tokenHash: sha256Hex(token),
    tokenType: type,
    label: 'false_positive',
    action: null,
    clientId: null,
    keyId: null,
    keyStart: null,
  };
}

/** One reported token that passed the checksum: look it up, act once, audit, email. */
async function reportOne(
  ctx: LeaksContext,
  token: ReportedToken,
  opts: ReportOptions,
): Promise<LeakOutcome> {
  const { clock } = ctx;
  const hash = hashKey(token.token);
  const type = token.type ?? null;
  const key = await ctx.keys.lookupByHash(hash);
  if (!key) return falsePositive(token.token, type);
  const url = token.url?.slice(0, 2000) ?? null;
  const row: LeakReportsTable = {
    id: newId('leak', clock.nowMs()),
    token_hash: hash,
    client_id: key.clientId,
    key_id: key.id,
    key_start: key.start,
    source: opts.source,
    token_type: type,
    url,
    action: key.status === 'revoked' ? 'already_revoked' : 'notified',
    new_key_id: null,
    created_at: clock.now().toISOString(),
  };
  const first = await ctx.leaksStore.claimReport(row);
  let action: LeakAction = first ? row.action : 'duplicate';
  let newKeyId: string | null = null;
  if (first && key.status === 'active') {
    ({ action, newKeyId } = await actOnce(ctx, key, row, opts));
  }
  await ctx.audit.record({
    actor: opts.actor,
    action: 'key.exposed',
    targetType: 'key',
    targetId: key.id,
    clientId: key.clientId,
    data: { source: opts.source, url, tokenType: type, keyStart: key.start, action, newKeyId },
  });
  return {
    tokenHash: hash,
    tokenType: type,
    label: 'true_positive',
    action,
    clientId: key.clientId,
    keyId: key.id,
    keyStart: key.start,
  };
}

/** The first report of a live key: the policy's action, the `key.exposed` event, the email. */
async function actOnce(
  ctx: LeaksContext,
  key: ApiKey,
  row: LeakReportsTable,
  opts: ReportOptions,
): Promise<{ action: LeakAction; newKeyId: string | null }> {
  const { url, token_type: tokenType } = row;
  const policy = opts.policy ?? (await policyOf(ctx, key.clientId));
  const { action, newKeyId } = await act(ctx, key, policy, `leaked: ${url ?? opts.source}`, opts);
  await ctx.leaksStore.finishReport(row.id, action, newKeyId, (trx) =>
    ctx.emit
      ? ctx.emit(trx, {
          type: 'key.exposed',
          clientId: key.clientId,
          data: {
            key: { id: key.id, start: key.start, environment: key.environment },
            source: opts.source,
            url,
            tokenType,
            action,
            newKeyId,
          },
        })
      : Promise.resolve(),
  );
  notify(ctx, { ...row, action, new_key_id: newKeyId }, action as Acted);
  return { action, newKeyId };
}

async function policyOf(ctx: LeaksContext, clientId: string): Promise<LeakPolicy> {
  return (await ctx.leaksStore.getPolicy(clientId)) ?? ctx.settings.policy;
}

/** The policy's action on a live key; answers what was done and the replacement's id. */
async function act(
  ctx: LeaksContext,
  key: ApiKey,
  policy: LeakPolicy,
  reason: string,
  { actor }: ReportOptions,
): Promise<{ action: LeakAction; newKeyId: string | null }> {
  const { keys, keyring } = ctx;
  if (policy === 'notify') return { action: 'notified', newKeyId: null };
  if (policy === 'revoke') {
    // Retired: a leaked secret never comes back (reactivate answers 409).
    await keys.revoke(key.clientId, key.id, actor, reason, { retire: true });
    return { action: 'revoked', newKeyId: null };
  }
  const rolled = await keys.roll(key.clientId, key.id, actor, 0);
  const masterKeyId = keyring.activeId;
  const ids = { clientId: key.clientId, keyId: rolled.key.id, masterKeyId };
  await ctx.leaksStore.insertSealedKey({
    key_id: rolled.key.id,
    client_id: key.clientId,
    replaced_key_id: key.id,
    master_key_id: masterKeyId,
    sealed: sealKey(rolled.apiKey, keyring.keys.get(masterKeyId)!, ids),
    created_at: ctx.clock.now().toISOString(),
  });
  return { action: 'rolled', newKeyId: rolled.key.id };
}

/** Emails the client and the operator, without making the report wait for SMTP. */
function notify(ctx: LeaksContext, row: LeakReportsTable, action: Acted): void {
  const send = async () => {
    const client = await ctx.clients.get(row.client_id);
    const base = {
      clientName: client.name,
      keyId: row.key_id,
      keyStart: row.key_start,
      source: row.source,
      url: row.url,
      action,
    };
    const to = [client.email, ctx.settings.operatorEmail].filter((x): x is string => !!x);
    for (const addr of new Set(to)) await ctx.mailer.send(exposureEmail({ ...base, to: addr }));
  };
  const p = send()
    .catch((err) => ctx.logger.warn({ err, reportId: row.id }, 'could not email a key exposure'))
    .finally(() => ctx.mails.delete(p));
  ctx.mails.add(p);
}

async function check(
  ctx: LeaksContext,
  found: FoundKey[],
): Promise<Array<FoundKey & { status: string }>> {
  const out: Array<FoundKey & { status: string }> = [];
  for (const f of found) {
    const key =
      keyPrefixOf(f.key) === ctx.settings.keyPrefix
        ? await ctx.keys.lookupByHash(hashKey(f.key))
        : null;
    out.push({
      ...f,
      status: key ? (key.status === 'active' ? 'live' : 'revoked') : 'unknown',
    });
  }
  return out;
}
