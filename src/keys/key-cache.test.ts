import { describe, expect, it } from 'vitest';
import { KeyCache } from './key-cache.ts';

const entry = (id: string, clientId: string) => ({ hash: `h-${id}`, id, clientId });

describe('KeyCache', () => {
  it('evicts one key by id and a whole client by id, leaving the others', () => {
    const cache = new KeyCache<ReturnType<typeof entry>>(100);
    for (const e of [entry('k1', 'c1'), entry('k2', 'c1'), entry('k3', 'c2')]) cache.set(e.hash, e);
    cache.deleteKey('k1');
    expect(cache.get('h-k1')).toBeUndefined();
    expect(cache.get('h-k2')?.id).toBe('k2');
    cache.deleteClient('c1');
    expect(cache.get('h-k2')).toBeUndefined();
    expect(cache.get('h-k3')?.id).toBe('k3');
    expect(cache.size).toBe(1);
  });

  it('forgets the index of entries pushed out by capacity, so it cannot grow past the cache', () => {
    const cache = new KeyCache<ReturnType<typeof entry>>(10);
    for (let i = 0; i < 1000; i++) cache.set(`h-k${i}`, entry(`k${i}`, `c${i % 7}`));
    expect(cache.size).toBe(10);
    const index = cache as unknown as {
      hashOfKey: Map<string, string>;
      keysOfClient: Map<string, Set<string>>;
    };
    expect(index.hashOfKey.size).toBe(10);
    const indexed = [...index.keysOfClient.values()].reduce((n, ids) => n + ids.size, 0);
    expect(indexed).toBe(10);
    // An evicted key's change event finds nothing to delete; a cached one is deleted.
    cache.deleteKey('k0');
    cache.deleteKey('k999');
    expect(cache.get('h-k999')).toBeUndefined();
    expect(cache.size).toBe(9);
  });

  it('deleting by hash and clearing drop the index too', () => {
    const cache = new KeyCache<ReturnType<typeof entry>>(10);
    cache.set('h-a', entry('a', 'c'));
    cache.set('h-b', entry('b', 'c'));
    cache.delete('h-a');
    cache.deleteClient('c');
    expect(cache.size).toBe(0);
    cache.set('h-a', entry('a', 'c'));
    cache.clear();
    cache.deleteKey('a');
    expect(cache.size).toBe(0);
  });
});
