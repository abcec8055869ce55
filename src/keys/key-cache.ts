import { Lru } from './keys-fns.ts';

/** What the verification cache needs to know of an entry to index it. */
export interface KeyCacheEntry {
  /** SHA-256 of the raw key: the lookup key on the hot path. */
  hash: string;
  id: string;
  clientId: string;
}

/**
 * The verification cache: a bounded LRU by key hash, indexed by key id and by client id so a
 * change event (one key changed, or a whole client) evicts its entries without scanning the
 * cache. A key's hash never changes (a roll makes a new key), so one id maps to one hash.
 */
export class KeyCache<E extends KeyCacheEntry> {
  private readonly lru: Lru<string, E>;
  private readonly hashOfKey = new Map<string, string>();
  private readonly keysOfClient = new Map<string, Set<string>>();

  constructor(max: number) {
    this.lru = new Lru<string, E>(max, (_hash, entry) => this.unindex(entry));
  }

  get(hash: string): E | undefined {
    return this.lru.get(hash);
  }

  set(hash: string, entry: E): void {
    this.lru.set(hash, entry);
    this.hashOfKey.set(entry.id, hash);
    let ids = this.keysOfClient.get(entry.clientId);
    if (!ids) this.keysOfClient.set(entry.clientId, (ids = new Set()));
    ids.add(entry.id);
  }

  delete(hash: string): void {
    const entry = this.lru.get(hash);
    if (!entry) return;
    this.lru.delete(hash);
    this.unindex(entry);
  }

  deleteKey(keyId: string): void {
    const hash = this.hashOfKey.get(keyId);
    if (hash !== undefined) this.delete(hash);
  }

  deleteClient(clientId: string): void {
    for (const keyId of [...(this.keysOfClient.get(clientId) ?? [])]) this.deleteKey(keyId);
  }

  clear(): void {
    this.lru.clear();
    this.hashOfKey.clear();
    this.keysOfClient.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  private unindex(entry: E): void {
    this.hashOfKey.delete(entry.id);
    const ids = this.keysOfClient.get(entry.clientId);
    if (!ids) return;
    ids.delete(entry.id);
    if (ids.size === 0) this.keysOfClient.delete(entry.clientId);
  }
}
