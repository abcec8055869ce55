import { describe, expect, it } from 'vitest';
import { createChangeFeed, type ChangeEvent } from '../infra/change-feed.ts';
import { createLogger } from '../infra/logger.ts';
import { createManualClock } from '../lib/clock.ts';
import { createTestStore } from '../../test/support/stores.ts';
import { createSecretCache, SECRET_CACHE_BLIND_TTL_MS } from './credentials-cache.ts';

const entry = (clientId: string, credentialId: string, owner = clientId, policy = 'byok') => ({
  clientId,
  provider: 'gemini',
  policy,
  source: (owner === 'platform' ? 'platform' : 'byok') as 'byok' | 'platform',
  owner,
  credentialId,
  credentials: Object.freeze({ apiKey: `key-of-${credentialId}` }),
});

/** A real change feed on a throwaway SQLite file; `emit` publishes as a node would. */
async function liveFeed() {
  const { store, close } = await createTestStore('sqlite');
  const feed = createChangeFeed({ store, redis: null, logger: createLogger({ level: 'silent' }) });
  feed.subscribe(() => undefined);
  while (!feed.isLive()) await new Promise((r) => setTimeout(r, 5));
  return {
    feed,
    emit: (e: ChangeEvent) => void feed.publish(e),
    close: async () => {
      await feed.close();
      await close();
    },
  };
}

describe('the opened-secret cache', () => {
  it('keeps an entry for its TTL only, and drops the oldest past its size', async () => {
    const clock = createManualClock();
    const { feed, close } = await liveFeed();
    const cache = createSecretCache({ clock, changes: feed, ttlMs: 60_000, max: 3 });
    for (const id of ['a', 'b', 'c', 'd']) {
      cache.set(cache.key(`client_${id}`, 'gemini'), entry(`client_${id}`, id), cache.generation());
    }
    expect(cache.size).toBe(3);
    expect(cache.get(cache.key('client_a', 'gemini'))).toBeUndefined();
    expect(cache.get(cache.key('client_d', 'gemini'))?.credentials.apiKey).toBe('key-of-d');
    clock.advance(59_999);
    expect(cache.get(cache.key('client_d', 'gemini'))).toBeDefined();
    clock.advance(1);
    expect(cache.get(cache.key('client_d', 'gemini'))).toBeUndefined();
    cache.close();
    await close();
  });

  it('keeps entries 1 s only while no change can reach it from other nodes', () => {
    const clock = createManualClock();
    const cache = createSecretCache({ clock, ttlMs: 60_000 });
    const k = cache.key('client_a', 'gemini');
    cache.set(k, entry('client_a', 'a'), cache.generation());
    clock.advance(SECRET_CACHE_BLIND_TTL_MS - 1);
    expect(cache.get(k)).toBeDefined();
    clock.advance(1);
    expect(cache.get(k)).toBeUndefined();
    cache.close();
  });

  it('evicts on credential and client changes, and never caches a read that raced one', async () => {
    const clock = createManualClock();
    const { feed, emit, close } = await liveFeed();
    const cache = createSecretCache({ clock, changes: feed });
    const put = (clientId: string, id: string, owner?: string, policy?: string) =>
      cache.set(
        cache.key(clientId, 'gemini'),
        entry(clientId, id, owner, policy),
        cache.generation(),
      );
    const has = (clientId: string) => cache.get(cache.key(clientId, 'gemini')) !== undefined;
    put('client_a', 'cred_a');
    put('client_b', 'cred_b');
    put('client_c', 'cred_p', 'platform', 'byok_then_platform');
    emit({ kind: 'key', id: 'key_x', clientId: 'client_a' });
    expect([has('client_a'), has('client_b'), has('client_c')]).toEqual([true, true, true]);
    emit({ kind: 'credential', id: 'cred_new', clientId: 'client_a' }); // a's new credential
    expect([has('client_a'), has('client_b'), has('client_c')]).toEqual([false, true, true]);
    emit({ kind: 'client', id: 'client_b', clientId: 'client_b' }); // b suspended or deleted
    expect(has('client_b')).toBe(false);
    emit({ kind: 'credential', id: 'cred_other', clientId: 'platform' }); // an operator key
    expect(has('client_c')).toBe(false);

    const before = cache.generation();
    emit({ kind: 'credential', id: 'cred_a', clientId: 'client_a' }); // while a read was out
    cache.set(cache.key('client_a', 'gemini'), entry('client_a', 'cred_a'), before);
    expect(has('client_a')).toBe(false);
    cache.close();
    await close();
  });
});
