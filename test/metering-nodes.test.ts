import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { keyplaneScript } from './support/keyplane-process.ts';
import { freePort } from './support/servers.ts';
import { createTestDatabase, ENGINES, redisUrl, type TestDatabase } from './support/stores.ts';
import { storedUsage } from './support/usage.ts';

/**
 * Real `keyplane serve` processes on one database (and one Redis): the limit and the meter
 * must hold across nodes, and a SIGTERM in the middle of a load must lose no accepted call.
 */
interface Node {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function startNode(db: TestDatabase, env: Record<string, string> = {}): Promise<Node> {
  const port = await freePort();
  const configFile = join(db.dir, 'nodes.config.json');
  writeFileSync(configFile, JSON.stringify({ pricing: { 'GET /v1/health': '0.01', '*': 0 } }));
  const child = spawn(process.execPath, [keyplaneScript(), 'serve', '--port', String(port)], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH,
      KEYPLANE_DATABASE_URL: db.url,
      KEYPLANE_DATA_DIR: db.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: configFile,
      KEYPLANE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node exited: ${out}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`node did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

const health = (node: Node, key: string) =>
  fetch(`${node.url}/v1/health`, { headers: { 'x-api-key': key } }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    () => 0,
  );

const redis = redisUrl();

describe.skipIf(!ENGINES.includes('postgres') || !redis)(
  'two keyplane processes on one PostgreSQL and one Redis',
  () => {
    let h: Harness;
    let db: TestDatabase;
    const nodes: Node[] = [];
    afterAll(async () => {
      await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
      await h?.close();
      await db?.drop();
    });

    it('a limit of 100 per minute lets exactly 100 calls through, and usage adds up', async () => {
      db = await createTestDatabase('postgres');
      h = await createHarness('postgres', { database: db });
      const { client } = await h.services.clients.create(
        { name: 'Two Nodes', email: 'two@example.com' },
        { type: 'system', id: 'test' },
      );
      const { apiKey } = await h.services.keys.create(
        client.id,
        { rateLimit: { limit: 100, windowSeconds: 60 } },
        { type: 'system', id: 'test' },
      );
      nodes.push(
        ...(await Promise.all([0, 1].map(() => startNode(db, { KEYPLANE_REDIS_URL: redis! })))),
      );
      const statuses = await Promise.all(
        Array.from({ length: 240 }, (_, i) => health(nodes[i % 2]!, apiKey)),
      );
      expect(statuses.filter((s) => s === 200).length).toBe(100);
      expect(statuses.filter((s) => s === 429).length).toBe(140);
      const codes = await Promise.all(nodes.map((n) => n.stop()));
      expect(codes).toEqual([0, 0]);
      const totals = await storedUsage(h.services.store.db, client.id);
      expect(totals).toEqual({ calls: 100, costMicros: 100 * 10_000 });
      const summary = await h.services.usage.summary({
        clientIds: [client.id],
        from: new Date(Date.now() - 3_600_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
        groupBy: 'key',
      });
      expect(summary.totals).toMatchObject({ calls: 100, costMicros: 1_000_000, cost: '1.00' });
    });
  },
);

describe.each(ENGINES)('SIGTERM during a load on %s', (engine) => {
  let h: Harness;
  let db: TestDatabase;
  let node: Node | null = null;
  afterAll(async () => {
    await node?.stop('SIGKILL');
    await h?.close();
    await db?.drop();
  });

  it('loses no accepted call', async () => {
    db = await createTestDatabase(engine);
    h = await createHarness(engine, { database: db });
    const { client, apiKey } = await h.services.clients.create(
      { name: 'Load', email: 'load@example.com' },
      { type: 'system', id: 'test' },
    );
    node = await startNode(db);
    let accepted = 0;
    let stopping = false;
    const workers = Array.from({ length: 16 }, async () => {
      for (let i = 0; i < 2000; i++) {
        const s = await health(node!, apiKey);
        if (s === 200) accepted++;
        else if (stopping) return; // refused or closed: the node is going away
      }
    });
    // Let the load run, then stop the node in the middle of it.
    while (accepted < 400) await new Promise((r) => setTimeout(r, 10));
    stopping = true;
    const code = await node.stop('SIGTERM');
    await Promise.all(workers);
    expect(code).toBe(0);
    expect(accepted).toBeGreaterThanOrEqual(400);
    const totals = await storedUsage(h.services.store.db, client.id);
    expect(totals.calls).toBe(accepted);
    expect(totals.costMicros).toBe(accepted * 10_000);
  });
});
