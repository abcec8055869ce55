import { afterAll, describe, expect, it } from 'vitest';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { runKeyplane } from './support/keyplane-process.ts';
import { createTestDatabase, ENGINES, redisUrl } from './support/stores.ts';

/**
 * A change to a key or client takes effect on the same node at once, and everywhere else within
 * 1 s: through the CLI on the same store, through another node on PostgreSQL (LISTEN/NOTIFY),
 * and through Redis pub/sub when configured.
 */
async function until(check: () => Promise<boolean>, ms = 1000): Promise<number> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not within ${ms} ms`);
}

async function newClient(h: Harness) {
  const res = await h.app.inject({
    method: 'POST',
    url: '/admin/v1/clients',
    headers: h.adminHeaders,
    payload: { name: 'Prop', email: 'prop@example.com' },
  });
  return res.json() as { client: { id: string }; key: { id: string }; apiKey: string };
}

const health = (h: Harness, key: string) =>
  h.app
    .inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': key } })
    .then((r) => r.statusCode);

describe.each(ENGINES)('key changes reach every node on %s', (engine) => {
  const open: Harness[] = [];
  afterAll(async () => {
    for (const h of open.reverse()) await h.close();
  });

  it('same node: a revoke through the HTTP API takes effect immediately', async () => {
    const h = await createHarness(engine);
    open.push(h);
    const c = await newClient(h);
    expect(await health(h, c.apiKey)).toBe(200);
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys/${c.key.id}/revoke`,
      headers: h.adminHeaders,
    });
    expect(await health(h, c.apiKey)).toBe(401);
  });

  it('the CLI on the same store while the server runs: within 1 s', async () => {
    const h = await createHarness(engine);
    open.push(h);
    const c = await newClient(h);
    expect(await health(h, c.apiKey)).toBe(200);
    // Another process (the CLI) on the store the server runs on.
    const cli = async (...args: string[]) => {
      const r = await runKeyplane(args, {
        cwd: h.database.dir,
        env: {
          KEYPLANE_DATABASE_URL: h.database.url,
          KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
          KEYPLANE_DATA_DIR: h.database.dir,
        },
      });
      expect(r.code, r.stderr).toBe(0);
    };
    await cli('clients', 'revoke', c.client.id);
    await until(async () => (await health(h, c.apiKey)) === 403);
    await cli('clients', 'reactivate', c.client.id);
    await until(async () => (await health(h, c.apiKey)) === 200);
  });

  it('another node on the same store: within 1 s', async () => {
    const database = await createTestDatabase(engine);
    // Closed last (open is closed in reverse): the nodes flush before their database goes.
    open.push({ close: () => database.drop() } as Harness);
    const one = await createHarness(engine, { database });
    const two = await createHarness(engine, { database });
    open.push(two, one);
    const c = await newClient(one);
    expect(await health(two, c.apiKey)).toBe(200); // cached on node two now
    await one.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys/${c.key.id}/revoke`,
      headers: one.adminHeaders,
    });
    await until(async () => (await health(two, c.apiKey)) === 401);
  });

  it.runIf(redisUrl())('another node through Redis pub/sub: within 1 s', async () => {
    const database = await createTestDatabase(engine);
    const env = { KEYPLANE_REDIS_URL: redisUrl()! };
    open.push({ close: () => database.drop() } as Harness);
    const one = await createHarness(engine, { database, env });
    const two = await createHarness(engine, { database, env });
    open.push(two, one);
    const c = await newClient(one);
    expect(await health(two, c.apiKey)).toBe(200);
    await one.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/suspend`,
      headers: one.adminHeaders,
    });
    await until(async () => (await health(two, c.apiKey)) === 403);
  });
});
