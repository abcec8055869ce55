import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const CHEAP = 'POST /api/cheap';
const DEAR = 'POST /api/dear';
const START = new Date('2025-10-15T12:00:00.000Z');

/**
 * A call under two budgets (the client's and its key's) reserves on both in one transaction:
 * its durable reservation is one row per budget, and its report settles, refunds or (after the
 * timeout) finds both released, together.
 */
describe.each(ENGINES)('a reservation on two budgets on %s', (engine) => {
  let h: Harness;
  const clock = createManualClock(START);
  beforeAll(async () => {
    h = await createHarness(engine, {
      file: {
        pricing: { [CHEAP]: '0.01', [DEAR]: '0.05', '*': 0 },
        budgets: { reservationTimeoutSeconds: 60 },
      },
      clock,
    });
  });
  afterAll(async () => h?.close());

  async function twoBudgets(name: string) {
    const actor = { type: 'system' as const, id: 'test' };
    const { client, key, apiKey } = await h.services.clients.create(
      { name, email: `${name.toLowerCase()}@example.com` },
      actor,
    );
    const wide = await h.services.budgets.create(
      client.id,
      { amountMicros: 500_000, period: 'day', mode: 'hard' },
      actor,
    );
    const narrow = await h.services.budgets.create(
      client.id,
      { amountMicros: 200_000, period: 'month', mode: 'soft', keyId: key.id },
      actor,
    );
    const spent = async () =>
      Promise.all(
        [wide.id, narrow.id].map(
          async (id) => (await h.services.budgets.get(client.id, id)).current.spentMicros,
        ),
      );
    return { clientId: client.id, keyId: key.id, apiKey, spent };
  }

  async function verify(apiKey: string): Promise<string> {
    const r = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/verify',
      headers: h.adminHeaders,
      payload: { key: apiKey, endpoint: CHEAP },
    });
    return r.json<{ reservationId: string }>().reservationId;
  }

  async function report(
    c: { clientId: string; keyId: string },
    reservationId: string,
    e: { status?: number; endpoint?: string } = {},
  ) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/usage/events',
      headers: h.adminHeaders,
      payload: {
        events: [
          {
            requestId: randomUUID(),
            clientId: c.clientId,
            keyId: c.keyId,
            endpoint: e.endpoint ?? CHEAP,
            method: 'POST',
            status: e.status ?? 200,
            reservationId,
          },
        ],
      },
    });
    expect(r.statusCode, r.body).toBe(202);
    await h.services.usage.flush();
  }

  const held = async (clientId: string) => {
    const rows = await h.services.store.db
      .selectFrom('budget_holds')
      .select('held_micros')
      .where('client_id', '=', clientId)
      .execute();
    return rows.reduce((n, r) => n + Number(r.held_micros), 0);
  };

  it('one row per budget; settled, refunded and charged the difference on both', async () => {
    const c = await twoBudgets('Both');
    const ids = [await verify(c.apiKey), await verify(c.apiKey), await verify(c.apiKey)];
    const rows = await h.services.store.db
      .selectFrom('budget_reservations')
      .select('budget_id')
      .where('id', '=', ids[0]!)
      .execute();
    expect(rows).toHaveLength(2);
    expect(await c.spent()).toEqual([30_000, 30_000]);
    await report(c, ids[0]!);
    await report(c, ids[1]!, { status: 500 });
    await report(c, ids[2]!, { endpoint: DEAR });
    expect(await c.spent()).toEqual([60_000, 60_000]);
    expect(await held(c.clientId)).toBe(0);
  });

  it('released on both at the timeout; a late report is added to both, once', async () => {
    const c = await twoBudgets('BothLate');
    const id = await verify(c.apiKey);
    expect(await c.spent()).toEqual([10_000, 10_000]);
    clock.advance(61_000);
    try {
      await h.services.budgets.releaseExpiredReservations();
      expect(await c.spent()).toEqual([0, 0]);
      expect(await held(c.clientId)).toBe(0);
      await report(c, id, { endpoint: DEAR });
      await report(c, id);
      expect(await c.spent()).toEqual([50_000, 50_000]);
    } finally {
      clock.set(START);
    }
  });
});
