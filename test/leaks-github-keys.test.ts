import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGithubKeySource } from '../src/leaks/github-keys.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { generateKey } from '../src/lib/key-format.ts';
import { createHarness } from './support/harness.ts';
import { githubRequest, partnerKey } from './support/leaks.ts';
import { ENGINES } from './support/stores.ts';

/** GitHub's public keys document on a loopback port: what it serves can change mid-test. */
async function keysServer() {
  const state = { doc: { public_keys: [] as unknown[] } as unknown, status: 200, requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.doc));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/meta/public_keys/secret_scanning`,
    state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('GitHub public keys fetched from publicKeysUrl', () => {
  let srv: Awaited<ReturnType<typeof keysServer>>;
  beforeAll(async () => {
    srv = await keysServer();
  });
  afterAll(async () => srv?.close());

  it('fetches once, caches, refetches for an unknown identifier at most once a minute', async () => {
    const one = partnerKey('k1');
    const two = partnerKey('k2');
    srv.state.doc = { public_keys: [one.document] };
    srv.state.requests = 0;
    const clock = createManualClock();
    const source = createGithubKeySource({ publicKeysUrl: srv.url, cacheMs: 3_600_000, clock });
    expect(await source.get('k1')).not.toBeNull();
    expect(await source.get('k1')).not.toBeNull();
    expect(srv.state.requests).toBe(1);

    // GitHub rotates its key: the new identifier is found after the refetch interval.
    srv.state.doc = { public_keys: [one.document, two.document] };
    expect(await source.get('k2')).toBeNull();
    expect(srv.state.requests).toBe(1);
    clock.advance(61_000);
    expect(await source.get('k2')).not.toBeNull();
    expect(srv.state.requests).toBe(2);

    // A stale document still serves while the URL is down; a cold start answers 503.
    srv.state.status = 500;
    clock.advance(3_700_000);
    expect(await source.get('k1')).not.toBeNull();
    const cold = createGithubKeySource({ publicKeysUrl: srv.url, cacheMs: 1000, clock });
    await expect(cold.get('k1')).rejects.toMatchObject({ code: 'service_unavailable' });
    srv.state.status = 200;
  });

  it.each(ENGINES)('a report verified with fetched keys on %s', async (engine) => {
    const gh = partnerKey('fetched');
    srv.state.doc = { public_keys: [gh.document] };
    const h = await createHarness(engine, {
      file: { leaks: { github: { publicKeysUrl: srv.url } } },
    });
    try {
      const token = generateKey('kp', 'live');
      const res = await h.app.inject(githubRequest([{ token, type: 't', url: 'u' }], gh));
      expect(res.statusCode).toBe(200);
      expect(res.json()[0].label).toBe('false_positive');
      const forged = await h.app.inject(githubRequest([{ token }], partnerKey('fetched')));
      expect(forged.statusCode).toBe(401);
    } finally {
      await h.close();
    }
  });
});
