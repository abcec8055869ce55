/**
 * A bounded map whose entries expire: least recently used entries go first when it is full.
 * Map keeps insertion order, so re-inserting on a hit is all the LRU bookkeeping needed.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #maxSize: number;

  constructor(maxSize: number) {
    this.#maxSize = Math.max(1, maxSize);
  }

  get(key: string, now: number): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    if (e.expiresAt <= now) return undefined;
    this.#entries.set(key, e);
    return e.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });
    while (this.#entries.size > this.#maxSize) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
