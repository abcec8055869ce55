import type { BlockList } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import type { ChangeEvent, ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { KeyCache } from './key-cache.ts';
import { Lru } from './keys-fns.ts';
import type { KeysStore } from './keys-store.ts';
import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { ClientSnapshot } from './keys-types.ts';

/** A verified key as the verification cache holds it (by the key's hash). */
export interface CachedKey {
  id: string;
  clientId: string;
  hash: string;
  environment: KeyEnvironment;
  scopes: string[];
  allowlist: BlockList | null;
  expiresAtMs: number | null;
  revoked: boolean;
  rateLimit: RateLimitSetting | null;
  /** The pool the key spends from, with its refill rule; null without credits. */
  credits: {
    poolId: string;
    interval: 'daily' | 'monthly' | null;
    amount: number | null;
  } | null;
  meta: Record<string, unknown>;
  client: ClientSnapshot;
  cachedAtMs: number;
  /**
   * Credits ran out: until then (epoch ms; Infinity without refill) calls are refused before the
   * rate limiter, so a client retrying on USAGE_EXCEEDED does not also fill its window.
   */
  creditsOutUntil?: number;
}

export interface VerifyCacheDeps {
  keysStore: KeysStore;
  logger: Logger;
  changes: ChangeFeed | null;
  registry?: Registry;
  cacheSize?: number;
  touchFlushMs?: number;
}

/** What the verification path remembers between calls. */
export interface VerifyMemory {
  cache: KeyCache<CachedKey>;
  /** Hashes that named no key, until when (epoch ms). */
  negative: Lru<string, number>;
  /** Bumped on every change event: a lookup that raced a change is not cached. */
  generation: number;
  /** false while no legacy key exists: a key without a valid checksum is refused offline. */
  mayBeLegacy: () => boolean;
  /** Notes a key's last use; written every few seconds, not per request. */
  touch: (keyId: string, atMs: number) => void;
}

/**
 * The verification cache kept current: every node's change feed evicts a changed key or a
 * changed client's keys (indexed, no scan), a resync clears it, and `publish` tells them all.
 */
export function createVerifyCache(deps: VerifyCacheDeps) {
  const { changes } = deps;
  const legacy = watchLegacyCount(deps);
  const touches = createTouches(deps);
  const memory: VerifyMemory = {
    cache: new KeyCache<CachedKey>(deps.cacheSize ?? 50_000),
    negative: new Lru<string, number>(100_000),
    generation: 0,
    mayBeLegacy: legacy.mayBeLegacy,
    touch: touches.touch,
  };
  function evict(event: ChangeEvent): void {
    if (event.kind === 'budget') return;
    memory.generation++;
    if (event.kind === 'client') memory.cache.deleteClient(event.clientId);
    else memory.cache.deleteKey(event.id);
  }
  const unsubscribe = changes?.subscribe(evict);
  const unresync = changes?.onResync(() => {
    memory.generation++;
    memory.cache.clear();
    memory.negative.clear();
  });
  return {
    memory,
    async publish(kind: 'key' | 'client', id: string, clientId: string): Promise<void> {
      // Local subscribers (our own cache) are served synchronously inside publish.
      if (changes) await changes.publish({ kind, id, clientId });
      else {
        evict({ kind, id, clientId });
        if (kind === 'key') legacy.reload();
      }
    },
    cacheStats: () => ({ positive: memory.cache.size, negative: memory.negative.size }),
    async close(): Promise<void> {
      unsubscribe?.();
      unresync?.();
      await legacy.close();
      await touches.close();
    },
  };
}

/**
 * Legacy keys (imported, hash-only): while a deployment has none, a key without a valid
 * checksum is refused offline as always. The count is loaded at start and reloaded on every
 * key change; while unknown (a reload in flight) such a key is looked up in storage.
 */
function watchLegacyCount({ keysStore, logger, changes, registry }: VerifyCacheDeps) {
  let legacyKeys: number | null = null;
  let legacyGeneration = 0;
  let closed = false;
  // The count in flight: close waits for it, so a short command never closes the database
  // under it (that logged "driver has already been destroyed" into the command's stderr).
  let loading: Promise<void> = Promise.resolve();
  function reload(): void {
    if (closed) return;
    const gen = ++legacyGeneration;
    legacyKeys = null;
    loading = keysStore.countLegacy().then(
      (n) => {
        if (gen === legacyGeneration) legacyKeys = n.total;
      },
      (err: unknown) => {
        if (!closed) logger.warn({ err }, 'could not count legacy keys');
      },
    );
  }
  reload();
  const unsubscribe = changes?.subscribe((e) => e.kind === 'key' && reload());
  const unresync = changes?.onResync(reload);
  if (registry) {
    new Gauge({
      name: 'keyplane_legacy_keys_active',
      help: 'Imported legacy keys still active (retire them by rolling)',
      registers: [registry],
      async collect() {
        this.set((await keysStore.countLegacy()).active);
      },
    });
  }
  return {
    mayBeLegacy: () => legacyKeys !== 0,
    reload,
    async close(): Promise<void> {
      closed = true;
      unsubscribe?.();
      unresync?.();
      await loading;
    },
  };
}

/** last_used_at without a write per request: remembered here, written every few seconds. */
function createTouches({ keysStore, logger, touchFlushMs }: VerifyCacheDeps) {
  const touches = new Map<string, number>();
  async function flush(): Promise<void> {
    if (!touches.size) return;
    const batch = [...touches].map(([id, at]) => ({ id, at: new Date(at).toISOString() }));
    touches.clear();
    try {
      await keysStore.touchMany(batch);
    } catch (err) {
      logger.warn({ err }, 'could not record key last-used times');
    }
  }
  const timer = setInterval(() => void flush(), touchFlushMs ?? 5_000);
  timer.unref();
  return {
    touch: (keyId: string, atMs: number) => void touches.set(keyId, atMs),
    async close(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}
