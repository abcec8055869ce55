import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { ClientsService } from '../clients/clients-service.ts';
import type { LeaksConfig } from '../config.ts';
import type { Logger } from '../infra/logger.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { Keyring } from '../infra/master-key.ts';
import type { KeysService } from '../keys/keys-service.ts';
import type { ApiKey } from '../keys/keys-types.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { hashKey, keyPrefixOf, parseKey } from '../lib/key-format.ts';
import type { EmitEvent } from '../webhooks/webhooks-service.ts';
import type { GithubKeySource } from './github-keys.ts';
import { exposureEmail, openSealedKey, sealKey, sha256Hex } from './leaks-fns.ts';
import {
  canonicalSignature,
  secretEquals,
  verifyGithubSignature,
  type FoundKey,
} from './leaks-fns.ts';
import type { LeaksStore } from './leaks-store.ts';
import type {
  LeakAction,
  LeakOutcome,
  LeakPolicy,
  LeakReport,
  LeakReportsTable,
  LeakSource,
  ReportedToken,
} from './leaks-types.ts';
import { parseGithubReport, parseGitlabReport } from './leaks-wire.ts';
import { byId, readPage } from '../lib/page.ts';

export interface LeaksServiceDeps {
  leaksStore: LeaksStore;
  keys: KeysService;
  clients: ClientsService;
  audit: AuditService;
  mailer: Mailer;
  keyring: Keyring;
  githubKeys: GithubKeySource;
  /** The webhooks outbox: `key.exposed`, written with the report's outcome. */
  emit?: EmitEvent;
  clock: Clock;
  logger: Logger;
  settings: Omit<LeaksConfig, 'operatorEmail'> & {
    keyPrefix: string;
    operatorEmail: string | null;
  };
}

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

interface ReportOptions {
  source: LeakSource;
  actor: Actor;
  /** `keyplane scan --revoke`: revoke whatever the client's policy says. */
  policy?: LeakPolicy;
}

/**
 * Leaked keys (issue 17): reports from secret scanning partners (GitHub, GitLab), operators
 * and `keyplane scan`. Each token: checksum first (a wrong one is a false positive that never
 * touches storage), then its hash; a live key gets its client's policy (revoke, roll or
 * notify) once, however often it is reported; every report is audited and emailed.
 */
export function createLeaksService(deps: LeaksServiceDeps) {
  const { leaksStore, keys, clients, audit, mailer, keyring, clock, logger, settings } = deps;
  /** Emails in flight: a report answers without waiting for SMTP; `close` waits for them. */
  const mails = new Set<Promise<void>>();

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

  async function policyOf(clientId: string): Promise<LeakPolicy> {
    return (await leaksStore.getPolicy(clientId)) ?? settings.policy;
  }

  /** The policy's action on a live key; answers what was done and the replacement's id. */
  async function act(
    key: ApiKey,
    policy: LeakPolicy,
    reason: string,
    actor: Actor,
  ): Promise<{ action: LeakAction; newKeyId: string | null }> {
    if (policy === 'notify') return { action: 'notified', newKeyId: null };
    if (policy === 'revoke') {
      // Retired: a leaked secret never comes back (reactivate answers 409).
      await keys.revoke(key.clientId, key.id, actor, reason, { retire: true });
      return { action: 'revoked', newKeyId: null };
    }
    const rolled = await keys.roll(key.clientId, key.id, actor, 0);
    const masterKeyId = keyring.activeId;
    const ids = { clientId: key.clientId, keyId: rolled.key.id, masterKeyId };
    await leaksStore.insertSealedKey({
      key_id: rolled.key.id,
      client_id: key.clientId,
      replaced_key_id: key.id,
      master_key_id: masterKeyId,
      sealed: sealKey(rolled.apiKey, keyring.keys.get(masterKeyId)!, ids),
      created_at: clock.now().toISOString(),
    });
    return { action: 'rolled', newKeyId: rolled.key.id };
  }

  function notify(row: LeakReportsTable, action: 'revoked' | 'rolled' | 'notified'): void {
    const send = async () => {
      const client = await clients.get(row.client_id);
      const base = {
        clientName: client.name,
        keyId: row.key_id,
        keyStart: row.key_start,
        source: row.source,
        url: row.url,
        action,
      };
      const to = [client.email, settings.operatorEmail].filter((x): x is string => !!x);
      for (const addr of new Set(to)) await mailer.send(exposureEmail({ ...base, to: addr }));
    };
    const p = send()
      .catch((err) => logger.warn({ err, reportId: row.id }, 'could not email a key exposure'))
      .finally(() => mails.delete(p));
    mails.add(p);
  }

  /** One reported token that passed the checksum: look it up, act once, audit, email. */
  async function reportOne(token: ReportedToken, opts: ReportOptions): Promise<LeakOutcome> {
    const hash = hashKey(token.token);
    const type = token.type ?? null;
    const key = await keys.lookupByHash(hash);
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
    const first = await leaksStore.claimReport(row);
    let action: LeakAction = first ? row.action : 'duplicate';
    let newKeyId: string | null = null;
    if (first && key.status === 'active') {
      const policy = opts.policy ?? (await policyOf(key.clientId));
      ({ action, newKeyId } = await act(key, policy, `leaked: ${url ?? opts.source}`, opts.actor));
      await leaksStore.finishReport(row.id, action, newKeyId, (trx) =>
        deps.emit
          ? deps.emit(trx, {
              type: 'key.exposed',
              clientId: key.clientId,
              data: {
                key: { id: key.id, start: key.start, environment: key.environment },
                source: opts.source,
                url,
                tokenType: type,
                action,
                newKeyId,
              },
            })
          : Promise.resolve(),
      );
      notify({ ...row, action, new_key_id: newKeyId }, action as 'revoked' | 'rolled' | 'notified');
    }
    await audit.record({
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

  async function report(tokens: ReportedToken[], opts: ReportOptions): Promise<LeakOutcome[]> {
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
        outcome = reportOne(t, opts);
        done.set(t.token, outcome);
      }
      out.push({ ...(await outcome), tokenType: type });
    }
    await audit.record({
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

  /** GitHub's headers on the raw body: a known key, a valid signature, never seen before. */
  async function verifyGithub(
    raw: Buffer,
    identifier: string | undefined,
    signature: string | undefined,
  ): Promise<void> {
    if (!identifier || !signature || identifier.length > 200) {
      throw new AppError(
        'unauthorized',
        'Github-Public-Key-Identifier and Github-Public-Key-Signature are required',
      );
    }
    const key = await deps.githubKeys.get(identifier);
    if (!key || !verifyGithubSignature(raw, signature, key)) {
      throw new AppError('unauthorized', 'the signature does not verify');
    }
    const canonical = canonicalSignature(Buffer.from(signature, 'base64'));
    if (!canonical) throw new AppError('unauthorized', 'the signature is not DER');
    const now = clock.nowMs();
    const windowMs = settings.replayWindowSeconds * 1000;
    const since = new Date(now - windowMs).toISOString();
    if (
      !(await leaksStore.claimSignature(sha256Hex(canonical), new Date(now).toISOString(), since))
    )
      throw new AppError('conflict', 'this signature was already accepted (replay)');
    // Old signatures are forgotten now and then, not on every report.
    if (Math.random() < 0.01) await leaksStore.pruneSignatures(since);
  }

  return {
    report,

    /**
     * POST /v1/leaks/github: verify, then report; answers GitHub's feedback shape,
     * `[{token_hash, token_type, label}]`.
     */
    async reportGithub(
      raw: Buffer,
      headers: { identifier?: string; signature?: string },
      ip: string | null,
    ) {
      await verifyGithub(raw, headers.identifier, headers.signature);
      const tokens = parseGithubReport(raw, settings.maxTokens);
      const outcomes = await report(tokens, {
        source: 'github',
        actor: { type: 'system', id: 'leaks:github', ip },
      });
      return outcomes.map((o) => ({
        token_hash: o.tokenHash,
        token_type: o.tokenType ?? '',
        label: o.label,
      }));
    },

    /** The GitLab token revocation API's shared secret (Authorization, with or without Bearer). */
    async reportGitlab(authorization: string | undefined, body: unknown, ip: string | null) {
      const secret = settings.gitlab.token;
      if (!secret) throw new AppError('not_configured', 'leaks.gitlab.token is not set');
      const given = (authorization ?? '').replace(/^Bearer\s+/i, '');
      if (!given || !secretEquals(given, secret)) {
        throw new AppError('unauthorized', 'invalid token revocation token');
      }
      const tokens = parseGitlabReport(body, settings.gitlab.tokenTypes, settings.maxTokens);
      await report(tokens, { source: 'gitlab', actor: { type: 'system', id: 'leaks:gitlab', ip } });
    },

    gitlabTokenTypes(authorization: string | undefined): string[] {
      const secret = settings.gitlab.token;
      if (!secret) throw new AppError('not_configured', 'leaks.gitlab.token is not set');
      const given = (authorization ?? '').replace(/^Bearer\s+/i, '');
      if (!given || !secretEquals(given, secret)) {
        throw new AppError('unauthorized', 'invalid token revocation token');
      }
      return settings.gitlab.tokenTypes;
    },

    /** `keyplane scan --check`: whether each found key is live, revoked or unknown here. */
    async check(found: FoundKey[]): Promise<Array<FoundKey & { status: string }>> {
      const out: Array<FoundKey & { status: string }> = [];
      for (const f of found) {
        const key =
          keyPrefixOf(f.key) === settings.keyPrefix
            ? await keys.lookupByHash(hashKey(f.key))
            : null;
        out.push({
          ...f,
          status: key ? (key.status === 'active' ? 'live' : 'revoked') : 'unknown',
        });
      }
      return out;
    },

    async getPolicy(clientId: string) {
      await clients.get(clientId);
      const own = await leaksStore.getPolicy(clientId);
      return { clientId, policy: own ?? settings.policy, default: own === null };
    },

    /** Sets a client's policy; null goes back to the configured default. */
    async setPolicy(clientId: string, policy: LeakPolicy | null, actor: Actor) {
      await clients.get(clientId);
      if (policy === null) await leaksStore.clearPolicy(clientId);
      else
        await leaksStore.setPolicy({
          client_id: clientId,
          policy,
          updated_at: clock.now().toISOString(),
        });
      await audit.record({
        actor,
        action: 'leaks.policy_set',
        targetType: 'client',
        targetId: clientId,
        clientId,
        data: { policy },
      });
      return { clientId, policy: policy ?? settings.policy, default: policy === null };
    },

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
    async revealRolledKeys(
      clientId: string,
      actor: Actor,
      mayReceive: (keyId: string) => Promise<boolean>,
    ) {
      const out: Array<{ key: ApiKey; apiKey: string; replacedKeyId: string }> = [];
      for (const pending of await leaksStore.listSealedKeys(clientId)) {
        if (!(await mayReceive(pending.key_id))) continue;
        const r = await leaksStore.takeSealedKey(clientId, pending.key_id);
        const master = r && keyring.keys.get(r.master_key_id);
        if (!r || !master) {
          if (r)
            logger.error({ keyId: r.key_id }, 'a rolled key was sealed under a lost master key');
          continue;
        }
        const ids = { clientId, keyId: r.key_id, masterKeyId: r.master_key_id };
        const apiKey = openSealedKey(r.sealed, master, ids);
        const key = await keys.get(clientId, r.key_id).catch(() => null);
        if (!key) continue; // the replacement was deleted since: nothing left to show
        out.push({ key, apiKey, replacedKeyId: r.replaced_key_id });
        await audit.record({
          actor,
          action: 'key.replacement_shown',
          targetType: 'key',
          targetId: r.key_id,
          clientId,
          data: { replacedKeyId: r.replaced_key_id },
        });
      }
      return { data: out };
    },

    pendingRolledKeys: (clientId: string) => leaksStore.countSealedKeys(clientId),

    forgetClient: (clientId: string) => leaksStore.forgetClient(clientId),

    /** Waits for the exposure emails still in flight. */
    async close(): Promise<void> {
      while (mails.size) await Promise.allSettled([...mails]);
    },
  };
}

export type LeaksService = ReturnType<typeof createLeaksService>;
