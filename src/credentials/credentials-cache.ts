import type { ChangeEvent, ChangeFeed } from '../infra/change-feed.ts';
import type { Clock } from '../lib/clock.ts';
import type { SecretFields } from './credentials-types.ts';

/** How long an opened secret stays in memory after it was read from the store. */
export const SECRET_CACHE_TTL_MS = 60_000;
/** While no change can reach this node from the others, entries live only this long. */
export const SECRET_CACHE_BLIND_TTL_MS = 1_000;
/** At most this many opened secrets in memory (the oldest goes first). */
export const SECRET_CACHE_MAX = 1_000;

/** A resolution as `resolve` found it: which credential a client gets for a provider, opened. */
export interface CachedSecret {
  clientId: string;
  provider: string;
  policy: string;
  source: 'byok' | 'platform';
  owner: string;
  credentialId: string;
  /** Frozen: every caller gets the same object. */
  credentials: Readonly<SecretFields>;
  expiresAt: number;
}

/** True when the change could alter what the cached answer would be. */
function touches(e: ChangeEvent, v: CachedSecret): boolean {
  return (
    v.credentialId === e.id ||
    v.owner === e.clientId ||
    v.clientId === e.clientId ||
    // An operator credential changed: every answer that could be the platform's.
    (e.kind === 'credential' && e.clientId === 'platform' && v.policy !== 'byok')
  );
}

/**
 * Opened secrets, in memory only, bounded in time and count, so a hot credential costs no store
 * read, no unwrap and no decrypt. Anything that could change an answer evicts it: a change to
 * one of the owner's credentials (create, rotate, deactivate, verify, delete, rewrap) or to the
 * client (suspension, deletion), on this node at once and on every other node through the
 * change feed within 1 s. A resolution that raced such a change is not cached (generation).
 */
export function createSecretCache(deps: {
  clock: Clock;
  changes?: ChangeFeed;
  ttlMs?: number;
  max?: number;
}) {
  const { clock, changes } = deps;
  const ttlMs = deps.ttlMs ?? SECRET_CACHE_TTL_MS;
  const max = deps.max ?? SECRET_CACHE_MAX;
  /** Insertion order is expiry order (every entry gets the same TTL): the oldest is first. */
  const map = new Map<string, CachedSecret>();
  let generation = 0;

  function evict(e: ChangeEvent) {
    if (e.kind === 'key' || e.kind === 'budget') return;
    generation++;
    for (const [k, v] of map) if (touches(e, v)) map.delete(k);
  }
  function clear() {
    generation++;
    map.clear();
  }
  const unsubscribe = changes?.subscribe(evict);
  const unresync = changes?.onResync(clear);
  // Expired entries go even when nobody asks for them again: plaintext never outlives its TTL by much.
  const sweeper = setInterval(
    () => {
      const now = clock.nowMs();
      for (const [k, v] of map) if (v.expiresAt <= now) map.delete(k);
    },
    Math.min(ttlMs, 5_000),
  );
  sweeper.unref();

  return {
    key: (clientId: string, provider: string, credentialId?: string) =>
      `${clientId}\n${provider}\n${credentialId ?? ''}`,

    get(key: string): CachedSecret | undefined {
      const v = map.get(key);
      if (!v) return undefined;
      if (v.expiresAt <= clock.nowMs()) {
        map.delete(key);
        return undefined;
      }
      return v;
    },

    /** The generation to pass to `set`: read it before the store. */
    generation: () => generation,

    set(key: string, entry: Omit<CachedSecret, 'expiresAt'>, seenGeneration: number) {
      if (seenGeneration !== generation || max <= 0) return;
      const live = changes?.isLive() ?? false;
      const ttl = live ? ttlMs : Math.min(ttlMs, SECRET_CACHE_BLIND_TTL_MS);
      map.delete(key);
      map.set(key, { ...entry, expiresAt: clock.nowMs() + ttl });
      while (map.size > max) map.delete(map.keys().next().value as string);
    },

    /** This node's own changes: evicted before the call that made them returns. */
    evict,
    clear,
    get size() {
      return map.size;
    },
    close() {
      clearInterval(sweeper);
      unsubscribe?.();
      unresync?.();
      map.clear();
    },
  };
}

export type SecretCache = ReturnType<typeof createSecretCache>;
