import { createPublicKey, type KeyObject } from 'node:crypto';
import { request } from 'undici';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { parseGithubPublicKeys } from './leaks-fns.ts';

export interface GithubKeySourceOptions {
  /** The partner's public keys document (GitHub: api.github.com/meta/public_keys/secret_scanning). */
  publicKeysUrl: string;
  /** Inline keys (tests, air-gapped installs): used instead of fetching when present. */
  inline?: Array<{ keyIdentifier: string; key: string }>;
  /** How long a fetched document is trusted. */
  cacheMs: number;
  /** An unknown identifier refetches the document at most this often (key rotation). */
  refetchMs?: number;
  timeoutMs?: number;
  clock: Clock;
}

export interface GithubKeySource {
  /** The key with this identifier, or null when the partner does not publish it. */
  get(identifier: string): Promise<KeyObject | null>;
}

/**
 * GitHub's signing keys: inline from configuration, or fetched with undici and cached. A
 * document that cannot be fetched answers 503 (the partner retries), never a guess.
 */
export function createGithubKeySource(opts: GithubKeySourceOptions): GithubKeySource {
  if (opts.inline?.length) {
    const keys = new Map(opts.inline.map((k) => [k.keyIdentifier, createPublicKey(k.key)]));
    return { get: async (id) => keys.get(id) ?? null };
  }
  const refetchMs = opts.refetchMs ?? 60_000;
  let cached: { keys: Map<string, KeyObject>; at: number } | null = null;
  let inflight: Promise<Map<string, KeyObject>> | null = null;

  async function fetchKeys(): Promise<Map<string, KeyObject>> {
    const timeout = opts.timeoutMs ?? 5_000;
    try {
      const res = await request(opts.publicKeysUrl, {
        headers: { accept: 'application/json', 'user-agent': 'keyplane-leaks' },
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`status ${res.statusCode}`);
      }
      const keys = parseGithubPublicKeys(await res.body.json());
      cached = { keys, at: opts.clock.nowMs() };
      return keys;
    } catch (err) {
      throw new AppError('service_unavailable', 'the partner public keys could not be fetched', {
        cause: err,
        headers: { 'retry-after': '60' },
      });
    }
  }
  function refresh(): Promise<Map<string, KeyObject>> {
    inflight ??= fetchKeys().finally(() => (inflight = null));
    return inflight;
  }

  return {
    async get(id) {
      const now = opts.clock.nowMs();
      if (!cached) return (await refresh()).get(id) ?? null;
      if (now - cached.at > opts.cacheMs) {
        // A stale document still beats none while the partner's URL is down.
        const stale = cached.keys;
        return ((await refresh().catch(() => stale)) ?? stale).get(id) ?? null;
      }
      const hit = cached.keys.get(id);
      if (hit || now - cached.at < refetchMs) return hit ?? null;
      return (await refresh()).get(id) ?? null;
    },
  };
}
