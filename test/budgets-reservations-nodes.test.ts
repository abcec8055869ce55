import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { startKeyplane, type ServeProcess } from './support/keyplane-process.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

const ENDPOINT = 'POST /api/things';
const PRICE = 10_000;
const DEAR = 'POST /api/dear';
const FILE = {
  pricing: { [ENDPOINT]: PRICE / 1_000_000, [DEAR]: 0.05, '*': 0 },
  billing: { schedule: 'off' },
};

/**
 * A reservation made on one `keyplane serve` process (POST /admin/v1/verify), that process
 * killed with SIGKILL, the call reported to another node: counted once, whether the report
 * came before or after the dead node's hold was given back, and spend = metered usage.
 */
describe.each(ENGINES)('reservations across a killed node on %s', (engine) => {
  let db: TestDatabase;
  let h: Harness;
  let victim: ServeProcess | null = null;

  beforeAll(async () => {
    db = await createTestDatabase(engine);
    // Node B: in this process, on the same database.
    h = await createHarness(engine, { database: db, file: FILE });
  }, 60_000);
  afterAll(async () => {
    await victim?.stop(5_000);
    await h?.close();
    await db?.drop();
  }, 60_000);

  async function post(base: string, path: string, body: unknown) {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...h.adminHeaders, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('verified on a node killed with SIGKILL, reported to another: each call counted once', async () => {
    const { client, key, apiKey } = await h.services.clients.create(
      { name: 'Killed', email: 'killed@example.com' },
      { type: 'system', id: 'test' },
    );
    const budget = await h.services.budgets.create(
      client.id,
      { amountMicros: 20 * PRICE, period: 'day', mode: 'hard' },
      { type: 'system', id: 'test' },
    );
    const configFile = join(db.dir, 'reservations-nodes.config.json');
    writeFileSync(configFile, JSON.stringify(FILE));
    // Node A: a real process, started after the budget exists.
    victim = await startKeyplane({
      env: {
        KEYPLANE_DATABASE_URL: db.url,
        KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
        KEYPLANE_CONFIG: configFile,
        KEYPLANE_LOG_LEVEL: 'info',
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = await post(victim.url, '/admin/v1/verify', { key: apiKey, endpoint: ENDPOINT });
      expect(v.body).toMatchObject({ valid: true });
      ids.push(String(v.body.reservationId));
    }
    const spent = async () =>
      (await h.services.budgets.get(client.id, budget.id)).current.spentMicros;
    const held = async () => {
      const rows = await h.services.store.db
        .selectFrom('budget_holds')
        .select('held_micros')
        .where('budget_id', '=', budget.id)
        .execute();
      return rows.reduce((n, r) => n + Number(r.held_micros), 0);
    };
    const report = async (reservationId: string, status: number, requestId = randomUUID()) => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/usage/events',
        headers: h.adminHeaders,
        payload: {
          events: [
            {
              requestId,
              clientId: client.id,
              keyId: key.id,
              endpoint: ENDPOINT,
              method: 'POST',
              status,
              reservationId,
            },
          ],
        },
      });
      expect(res.statusCode, res.body).toBe(202);
      await h.services.usage.flush();
    };
    expect(await spent()).toBe(3 * PRICE);
    expect(await held()).toBe(3 * PRICE);

    victim.child.kill('SIGKILL');
    await victim.exited;
    victim = null;
    // Reported at once: out of the dead node's hold (a 503: refunded).
    await report(ids[0]!, 200);
    await report(ids[1]!, 503);
    // The dead node falls silent: what it still holds (the third reservation) goes back.
    await waitFor(async () => {
      await h.services.budgets.gate.reclaimSilent();
      return (await held()) === 0;
    }, "the killed node's hold given back");
    expect(await spent()).toBe(PRICE);
    // Reported after that (and retried): added to the spend once.
    const requestId = randomUUID();
    await report(ids[2]!, 200, requestId);
    await report(ids[2]!, 200, requestId);
    const usage = await h.services.usage.summary({
      clientIds: [client.id],
      from: new Date(Date.now() - 86_400_000).toISOString(),
      to: new Date(Date.now() + 86_400_000).toISOString(),
      groupBy: 'endpoint',
    });
    expect(usage.totals.costMicros).toBe(2 * PRICE);
    expect(await spent()).toBe(2 * PRICE);
    expect(await held()).toBe(0);
  });

  it('the same reports sent to two nodes at once settle each reservation once', async () => {
    const actor = { type: 'system' as const, id: 'test' };
    const { client, key, apiKey } = await h.services.clients.create(
      { name: 'Twice', email: 'twice@example.com' },
      actor,
    );
    const budget = await h.services.budgets.create(
      client.id,
      { amountMicros: 100 * PRICE, period: 'day', mode: 'hard' },
      actor,
    );
    const other = await createHarness(engine, { database: db, file: FILE });
    try {
      const nodes = [h, other];
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const v = await nodes[i % 2]!.app.inject({
          method: 'POST',
          url: '/admin/v1/verify',
          headers: h.adminHeaders,
          payload: { key: apiKey, endpoint: ENDPOINT },
        });
        ids.push(String(v.json<{ reservationId: string }>().reservationId));
      }
      // Each call reported to both nodes at once (a reporter retrying elsewhere): 200, 503
      // (refunded) or at a dearer endpoint.
      const events = ids.map((reservationId, i) => ({
        requestId: randomUUID(),
        clientId: client.id,
        keyId: key.id,
        endpoint: i % 3 === 2 ? DEAR : ENDPOINT,
        method: 'POST',
        status: i % 3 === 1 ? 503 : 200,
        reservationId,
      }));
      await Promise.all(
        nodes.flatMap((n) =>
          events.map((e) =>
            n.app.inject({
              method: 'POST',
              url: '/admin/v1/usage/events',
              headers: h.adminHeaders,
              payload: { events: [e] },
            }),
          ),
        ),
      );
      await Promise.all(nodes.map((n) => n.services.usage.flush()));
      const expected = events.reduce(
        (sum, e) => sum + (e.status >= 500 ? 0 : e.endpoint === DEAR ? 50_000 : PRICE),
        0,
      );
      const usage = await h.services.usage.summary({
        clientIds: [client.id],
        from: new Date(Date.now() - 86_400_000).toISOString(),
        to: new Date(Date.now() + 86_400_000).toISOString(),
        groupBy: 'endpoint',
      });
      expect(usage.totals.costMicros).toBe(expected);
      expect((await h.services.budgets.get(client.id, budget.id)).current.spentMicros).toBe(
        expected,
      );
      const rows = await h.services.store.db
        .selectFrom('budget_holds')
        .select('held_micros')
        .where('budget_id', '=', budget.id)
        .execute();
      expect(rows.reduce((n, r) => n + Number(r.held_micros), 0)).toBe(0);
      const open = await h.services.store.db
        .selectFrom('budget_reservations')
        .select('id')
        .where('client_id', '=', client.id)
        .where('settled_at', 'is', null)
        .execute();
      expect(open).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
