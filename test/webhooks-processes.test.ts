import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { startKeyplane, type ServeProcess } from './support/keyplane-process.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';
import { waitFor } from './support/wait.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

/**
 * Webhook delivery across real `keyplane serve` processes: a node killed with SIGKILL right
 * after the state change committed loses no message, and two nodes dispatching one PostgreSQL
 * outbox deliver each message to each endpoint exactly once.
 */

const BOOTSTRAP = /bootstrap admin token[\s\S]*?\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/;

interface Node {
  serve: ServeProcess;
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/** A node on `db`; `dispatch: false` holds the window between commit and send open. */
async function startNode(db: TestDatabase, name: string, dispatch: boolean) {
  const configFile = join(db.dir, `${name}.config.json`);
  writeFileSync(
    configFile,
    JSON.stringify({ webhooks: { dispatch }, billing: { schedule: 'off' } }),
  );
  const serve = await startKeyplane({
    cwd: db.dir,
    env: {
      KEYPLANE_DATABASE_URL: db.url,
      KEYPLANE_DATA_DIR: db.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_MODE: 'development',
      KEYPLANE_CONFIG: configFile,
    },
  });
  cleanup.push(() => serve.stop(5_000));
  return serve;
}

function client(serve: ServeProcess, token: string): Node {
  return {
    serve,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${serve.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return (text ? JSON.parse(text) : {}) as T;
    },
  };
}

interface Delivery {
  endpointId: string;
  status: string;
  attempts: number;
}
interface Message {
  id: string;
  eventType: string;
  deliveries: Delivery[];
}

const messages = async (node: Node) =>
  (await node.call<{ data: Message[] }>('GET', '/admin/v1/webhooks/messages?limit=200')).data;

describe.each(ENGINES)('webhooks across processes on %s', (engine) => {
  it('a node killed with SIGKILL between the commit and the send loses nothing', async () => {
    const db = await createTestDatabase(engine);
    cleanup.push(() => db.drop());
    const rx = await startReceiver();
    cleanup.push(() => rx.close());

    // The first node does not dispatch: the message is committed and cannot have been sent.
    const first = await startNode(db, 'first', false);
    const token = BOOTSTRAP.exec(first.stdout())![1]!;
    const a = client(first, token);
    const { endpoint, secret } = await a.call<{ endpoint: { id: string }; secret: string }>(
      'POST',
      '/admin/v1/webhooks/endpoints',
      { url: rx.url, eventTypes: ['client.suspended'] },
    );
    const { client: c } = await a.call<{ client: { id: string } }>('POST', '/admin/v1/clients', {
      name: 'Crash Co',
      email: 'crash@example.com',
    });
    await a.call('POST', `/admin/v1/clients/${c.id}/suspend`, { reason: 'unpaid' });
    const [pending] = await messages(a);
    expect(pending).toMatchObject({
      eventType: 'client.suspended',
      deliveries: [{ endpointId: endpoint.id, status: 'pending', attempts: 0 }],
    });

    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(rx.received).toHaveLength(0);

    // A new process on the same database delivers it, signed, once.
    const second = await startNode(db, 'second', true);
    await rx.waitFor(() => rx.delivered().length >= 1, 25_000);
    const got = rx.received[0]!;
    expect(got.headers['webhook-id']).toBe(pending!.id);
    expect(
      standardWebhooksVerify(secret, got.headers, got.body, Math.floor(Date.now() / 1000)),
    ).toBe(true);
    expect(JSON.parse(got.body)).toMatchObject({
      type: 'client.suspended',
      data: { client: { id: c.id } },
    });
    const b = client(second, token);
    const [after] = await waitFor(async () => {
      const list = await messages(b);
      return list[0]?.deliveries[0]?.status === 'delivered' && list;
    }, 'the delivery recorded as delivered');
    expect(after!.deliveries).toEqual([
      expect.objectContaining({ endpointId: endpoint.id, status: 'delivered', attempts: 1 }),
    ]);
    expect(rx.received).toHaveLength(1);
  }, 60_000);
});

describe.skipIf(!ENGINES.includes('postgres'))('two nodes dispatching one PostgreSQL', () => {
  const N = 24;
  const M = 3;

  it(`deliver each of ${N} messages to each of ${M} endpoints exactly once`, async () => {
    const db = await createTestDatabase('postgres');
    cleanup.push(() => db.drop());
    const rx = await startReceiver();
    cleanup.push(() => rx.close());
    // Both start at once on the empty database: one of them migrates and prints the token.
    const [first, second] = await Promise.all([startNode(db, 'a', true), startNode(db, 'b', true)]);
    const token = BOOTSTRAP.exec(first.stdout() + second.stdout())![1]!;
    const nodes = [client(first, token), client(second, token)];

    const endpoints: Array<{ id: string; secret: string }> = [];
    for (let i = 0; i < M; i++) {
      const r = await nodes[i % 2]!.call<{ endpoint: { id: string }; secret: string }>(
        'POST',
        '/admin/v1/webhooks/endpoints',
        { url: rx.url, eventTypes: ['client.suspended', 'client.reactivated'] },
      );
      endpoints.push({ id: r.endpoint.id, secret: r.secret });
    }
    const { client: c } = await nodes[0]!.call<{ client: { id: string } }>(
      'POST',
      '/admin/v1/clients',
      { name: 'Twin Nodes Ltd', email: 'twin@example.com' },
    );
    // Each node writes half of the outbox: suspend and reactivate, alternating.
    for (let i = 0; i < N; i++)
      await nodes[i % 2]!.call(
        'POST',
        `/admin/v1/clients/${c.id}/${i % 2 === 0 ? 'suspend' : 'reactivate'}`,
        i % 2 === 0 ? { reason: `round ${i}` } : undefined,
      );

    await waitFor(
      async () => {
        // Only the toggles: creating the client raises events of its own (key.created).
        const list = (await messages(nodes[1]!)).filter((m) => m.eventType.startsWith('client.'));
        return (
          list.length === N &&
          list.every((m) => m.deliveries.length === M) &&
          list.every((m) => m.deliveries.every((d) => d.status === 'delivered'))
        );
      },
      'every delivery recorded as delivered',
      { timeoutMs: 40_000, intervalMs: 100 },
    );
    // Which node sent how many (each counts only the deliveries it recorded).
    const split = await Promise.all(nodes.map((n) => deliveredBy(n, token)));
    // A graceful stop waits for in-flight sends: after it, a duplicate would have arrived.
    await Promise.all([first.stop(), second.stop()]);

    // Each request names its endpoint by the secret that signed it.
    const nowS = Math.floor(Date.now() / 1000);
    const pairs = rx.received.map((r) => {
      const ep = endpoints.findIndex((e) =>
        standardWebhooksVerify(e.secret, r.headers, r.body, nowS),
      );
      return `${String(r.headers['webhook-id'])}/${ep}`;
    });
    expect(new Set(rx.received.map((r) => r.headers['webhook-id'])).size).toBe(N);
    expect(pairs.some((p) => p.endsWith('/-1'))).toBe(false);
    expect(rx.received).toHaveLength(N * M);
    expect(new Set(pairs).size).toBe(N * M);
    expect(split[0]! + split[1]!).toBe(N * M);
    console.log(`two nodes: ${N * M} deliveries, node a sent ${split[0]}, node b ${split[1]}`);
  }, 60_000);
});

/** keyplane_webhook_deliveries_total{outcome="delivered"} of one node. */
async function deliveredBy(node: Node, token: string): Promise<number> {
  const res = await fetch(`${node.serve.url}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const line = (await res.text())
    .split('\n')
    .find((l) => l.startsWith('keyplane_webhook_deliveries_total{outcome="delivered"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}
