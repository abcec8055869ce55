import type { Actor, AuditService } from '../audit/index.ts';
import type { Logger } from '../infra/logger.ts';
import type { CredentialsStore } from './credentials-store.ts';

/** Default flush interval: the most a kill -9 can lose of use counts and `credential.used` entries. */
export const USAGE_FLUSH_MS = 1000;

/** One handed-out secret, as the ledger hears it on the request path (no I/O there). */
export interface Use {
  /** The credential's owner (a client id or `platform`); null with credentialId for the environment. */
  owner: string;
  credentialId: string | null;
  /** The client the secret was resolved for. */
  clientId: string;
  provider: string;
  source: string;
  policy: string;
  actor: Actor;
  requestId: string | null;
  at: string;
  /** Development mode: the environment variables the secret came from. */
  variables?: string[];
}

interface Count {
  owner: string;
  id: string;
  count: number;
  last: string;
}

/** What one `credential.used` audit entry says: every use of one credential by one actor in one interval. */
interface UsedEntry {
  use: Use;
  count: number;
  firstAt: string;
  lastAt: string;
  firstRequestId: string | null;
  lastRequestId: string | null;
}

const countKey = (owner: string, id: string) => `${owner}\n${id}`;
const entryKey = (u: Use) =>
  `${u.credentialId ?? `env:${u.provider}`}\n${u.clientId}\n${u.actor.type}\n${u.actor.id}\n${u.source}`;

function mergeCount(into: Map<string, Count>, c: Count) {
  const k = countKey(c.owner, c.id);
  const p = into.get(k);
  if (!p) return void into.set(k, { ...c });
  p.count += c.count;
  if (c.last > p.last) p.last = c.last;
}

/** Folds `e` (older or newer) into the pending entry for the same key. */
function mergeEntry(into: Map<string, UsedEntry>, e: UsedEntry) {
  const k = entryKey(e.use);
  const p = into.get(k);
  if (!p) return void into.set(k, { ...e });
  p.count += e.count;
  if (e.firstAt < p.firstAt) [p.firstAt, p.firstRequestId] = [e.firstAt, e.firstRequestId];
  if (e.lastAt >= p.lastAt) {
    [p.lastAt, p.lastRequestId] = [e.lastAt, e.lastRequestId];
    p.use = e.use;
  }
}

/** On the request path: one more use of the credential, in memory. */
function countUse(counts: Map<string, Count>, u: Use) {
  if (!u.credentialId) return;
  const k = countKey(u.owner, u.credentialId);
  const p = counts.get(k);
  if (p) {
    p.count++;
    if (u.at > p.last) p.last = u.at;
  } else counts.set(k, { owner: u.owner, id: u.credentialId, count: 1, last: u.at });
}

/** On the request path: the use joins its interval's `credential.used` entry. */
function noteUse(entries: Map<string, UsedEntry>, u: Use) {
  const k = entryKey(u);
  const e = entries.get(k);
  if (e) {
    e.count++;
    if (u.at >= e.lastAt) [e.lastAt, e.lastRequestId, e.use] = [u.at, u.requestId, u];
  } else {
    entries.set(k, {
      use: u,
      count: 1,
      firstAt: u.at,
      lastAt: u.at,
      firstRequestId: u.requestId,
      lastRequestId: u.requestId,
    });
  }
}

/** The audit entry for an interval's uses: the count and the first and last request ids. */
function usedEntryRecord(e: UsedEntry): Parameters<AuditService['record']>[0] {
  const u = e.use;
  return {
    actor: u.actor,
    action: 'credential.used',
    targetType: 'credential',
    targetId: u.credentialId,
    clientId: u.clientId,
    data: {
      operation: 'resolve',
      provider: u.provider,
      source: u.source,
      policy: u.policy,
      ...(u.variables && { variables: u.variables }),
      count: e.count,
      firstAt: e.firstAt,
      lastAt: e.lastAt,
      firstRequestId: e.firstRequestId,
      lastRequestId: e.lastRequestId,
    },
  };
}

/** Uses not yet written (pending or in the batch being written), so reads on this node include them. */
function pendingIn(
  counts: Map<string, Count>,
  writing: Map<string, Count>,
  owner: string,
  id: string,
): { count: number; last: string } | undefined {
  const k = countKey(owner, id);
  const p = counts.get(k);
  const w = writing.get(k);
  if (!p && !w) return undefined;
  const count = (p?.count ?? 0) + (w?.count ?? 0);
  const last = [p?.last ?? '', w?.last ?? ''].sort()[1]!;
  return { count, last };
}

/**
 * The use ledger: `usageCount`/`lastUsedAt` and the `credential.used` audit entries, counted in
 * memory on the request path and written every `flushMs` (and on close). N uses of a credential
 * by one actor in an interval cost one `UPDATE … usage_count + N` and one hash-chained audit
 * entry carrying the count and the first and last request ids, so no request waits on the chain's
 * head row and several nodes add to the same rows. A write that fails is put back and retried.
 */
export function createUseLedger(deps: {
  store: Pick<CredentialsStore, 'addUsage'>;
  audit: Pick<AuditService, 'record'>;
  logger: Logger;
  flushMs: number;
}) {
  const { store, audit, logger, flushMs } = deps;
  let counts = new Map<string, Count>();
  let entries = new Map<string, UsedEntry>();
  /** The batch being written: still counted by pendingFor until it is in the store. */
  let writing = new Map<string, Count>();
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;

  function schedule() {
    if (timer) return;
    timer = setTimeout(() => void flush(), flushMs);
    timer.unref();
  }

  function record(u: Use) {
    countUse(counts, u);
    noteUse(entries, u);
    schedule();
  }

  const writeEntry = (e: UsedEntry) => audit.record(usedEntryRecord(e));

  /** Writes one batch; whatever was not written goes back into the pending maps. */
  async function write(batchCounts: Count[], batchEntries: UsedEntry[]): Promise<boolean> {
    let i = 0;
    let j = 0;
    try {
      for (; i < batchCounts.length; i++) {
        const c = batchCounts[i]!;
        await store.addUsage(c.owner, c.id, c.count, c.last);
        writing.delete(countKey(c.owner, c.id));
      }
      for (; j < batchEntries.length; j++) await writeEntry(batchEntries[j]!);
      return true;
    } catch (err) {
      writing = new Map();
      for (const c of batchCounts.slice(i)) mergeCount(counts, c);
      for (const e of batchEntries.slice(j)) mergeEntry(entries, e);
      logger.error({ err }, 'credential usage flush failed; will retry');
      return false;
    }
  }

  async function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = null;
    while (flushing) await flushing;
    if (!counts.size && !entries.size) return;
    const batchCounts = [...counts.values()];
    const batchEntries = [...entries.values()];
    writing = counts;
    counts = new Map();
    entries = new Map();
    let ok = true;
    flushing = write(batchCounts, batchEntries).then((done) => void (ok = done));
    try {
      await flushing;
    } finally {
      flushing = null;
      writing = new Map();
    }
    if (!ok) schedule();
  }

  return {
    record,
    flush,
    /** Uses not yet written, so reads on this node include them. */
    pendingFor: (owner: string, id: string) => pendingIn(counts, writing, owner, id),
  };
}

export type UseLedger = ReturnType<typeof createUseLedger>;
