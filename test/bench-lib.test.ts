import { afterAll, describe, expect, test } from 'vitest';
import { compare, formatTable, measure, startBareFastify, startKeyplane } from '../bench/lib.ts';

/** The bench harness itself, on tiny loads (1 s, 2 connections): it must keep measuring truly. */
describe('bench harness', () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
  });

  test('measure counts only 2xx answers as throughput and reports the rest', async () => {
    const bare = await startBareFastify();
    closers.push(bare.close);
    const ok = await measure(`${bare.url}/healthz`, { seconds: 0.3, connections: 2 });
    expect(ok.rps).toBeGreaterThan(0);
    expect(ok.non2xx).toBe(0);
    const missing = await measure(`${bare.url}/nope`, { seconds: 0.3, connections: 2 });
    expect(missing.rps).toBe(0);
    expect(missing.non2xx).toBeGreaterThan(0);
  });

  test('startKeyplane serves a real Keyplane on loopback with a working admin token', async () => {
    const kp = await startKeyplane();
    closers.push(kp.close);
    expect(kp.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(kp.engine).toBe('sqlite');
    const health = await fetch(`${kp.url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const tokens = await fetch(`${kp.url}/admin/v1/admin-tokens`, { headers: kp.adminHeaders });
    expect(tokens.status).toBe(200);
    const denied = await fetch(`${kp.url}/admin/v1/admin-tokens`);
    expect(denied.status).toBe(401);
  });

  test('compare reports each candidate against the baseline and flags failing requests', async () => {
    const bare = await startBareFastify((app) => {
      app.get('/healthz', async () => ({ status: 'ok' }));
      app.get('/fail', async (_req, reply) => reply.code(500).send({ error: 'x' }));
    });
    closers.push(bare.close);
    const results = await compare({
      baseline: { name: 'base', url: `${bare.url}/healthz` },
      candidates: [
        { name: 'same', url: `${bare.url}/healthz`, target: '≈ 1' },
        { name: 'broken', url: `${bare.url}/fail` },
      ],
      // What is counted and reported is the claim, not the figures: short runs do.
      rounds: 1,
      seconds: 0.3,
      warmupSeconds: 0.1,
      log: () => undefined,
    });
    expect(results.map((r) => r.name)).toEqual(['base', 'same', 'broken']);
    expect(results[1]!.ratio).toBeGreaterThan(0);
    expect(results[1]!.note).not.toMatch(/INVALID/);
    expect(results[2]!.ratio).toBe(0);
    expect(results[2]!.note).toMatch(/MEASUREMENT INVALID/);
    const table = formatTable(results);
    expect(table).toMatch(/^benchmark\s+value\s+baseline\s+ratio\s+target/);
    expect(table).toContain('≈ 1');
  });
});
