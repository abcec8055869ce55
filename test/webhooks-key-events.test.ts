import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { hashKey } from '../src/lib/key-format.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- payloads are read field by field
type Event = { type: string; version: number; timestamp: string; data: Record<string, any> };

const DAY = 24 * 3600_000;

describe.each(ENGINES)('key webhook events on %s', (engine) => {
  let h: Harness;
  let rx: Receiver;
  const clock = createManualClock(new Date('2026-04-01T08:00:00.000Z'));
  const nowS = () => Math.floor(clock.nowMs() / 1000);
  beforeAll(async () => {
    rx = await startReceiver();
    h = await createHarness(engine, { clock, env: { KEYPLANE_MODE: 'development' } });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
  });

  const drain = async () => {
    while ((await h.services.webhookDispatcher.runOnce()) > 0);
  };
  async function createClient(name: string) {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name, email: `${name.toLowerCase()}@example.com` },
    });
    expect(res.statusCode).toBe(201);
    return res.json() as { client: { id: string }; apiKey: string };
  }
  /** A client endpoint for these types; answers the events it received from now on. */
  async function listen(apiKey: string, eventTypes: string[]) {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/webhooks/endpoints',
      headers: { 'x-api-key': apiKey },
      payload: { url: rx.url, eventTypes },
    });
    expect(res.statusCode, res.body).toBe(201);
    const { secret } = res.json() as { secret: string };
    let seen = rx.received.length;
    const got: Event[] = [];
    return {
      secret,
      /** Everything signed with this endpoint's secret so far (checked when it arrived). */
      async events(): Promise<Event[]> {
        await drain();
        for (const r of rx.received.slice(seen))
          if (standardWebhooksVerify(secret, r.headers, r.body, nowS()))
            got.push(JSON.parse(r.body) as Event);
        seen = rx.received.length;
        return [...got];
      },
    };
  }
  async function newKey(clientId: string, payload: Record<string, unknown>) {
    const res = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${clientId}/keys`,
      headers: h.adminHeaders,
      payload,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { key: { id: string }; apiKey: string };
  }
  /** No key, no key hash, in anything that was sent. */
  function expectNoSecret(events: Event[], apiKeys: string[]) {
    const text = JSON.stringify(events);
    for (const k of apiKeys) {
      expect(text).not.toContain(k);
      expect(text).not.toContain(k.slice(-20));
      expect(text).not.toContain(hashKey(k));
    }
  }

  it('sends key.created, key.revoked and key.rolled, each committed with the change', async () => {
    const c = await createClient('KeyAlpha');
    const l = await listen(c.apiKey, ['key.created', 'key.revoked', 'key.rolled']);
    const made = await newKey(c.client.id, { name: 'worker', scopes: ['usage:read'] });
    const rolled = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys/${made.key.id}/roll`,
      headers: h.adminHeaders,
      payload: { gracePeriodSeconds: 600 },
    });
    expect(rolled.statusCode, rolled.body).toBe(201);
    const fresh = rolled.json() as { key: { id: string }; apiKey: string };
    const revoked = await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys/${fresh.key.id}/revoke`,
      headers: h.adminHeaders,
      payload: { reason: 'no longer used' },
    });
    expect(revoked.statusCode, revoked.body).toBe(200);
    // A second revoke changes nothing and sends nothing.
    await h.app.inject({
      method: 'POST',
      url: `/admin/v1/clients/${c.client.id}/keys/${fresh.key.id}/revoke`,
      headers: h.adminHeaders,
      payload: {},
    });
    const events = await l.events();
    expect(events.map((e) => e.type)).toEqual(['key.created', 'key.rolled', 'key.revoked']);
    const [created, roll, revoke] = events as [Event, Event, Event];
    expect(created).toMatchObject({
      version: 1,
      data: { key: { id: made.key.id, clientId: c.client.id, name: 'worker', status: 'active' } },
    });
    expect(roll.data).toMatchObject({
      key: { id: made.key.id },
      newKey: { id: fresh.key.id, scopes: ['usage:read'] },
      gracePeriodSeconds: 600,
      oldKeyExpiresAt: new Date(clock.nowMs() + 600_000).toISOString(),
    });
    expect(revoke.data).toMatchObject({
      key: { id: fresh.key.id, status: 'revoked' },
      reason: 'no longer used',
      retired: false,
    });
    expectNoSecret(events, [c.apiKey, made.apiKey, fresh.apiKey]);
  });

  it('writes no key.created when the key insert fails (same transaction)', async () => {
    const c = await createClient('KeyBeta');
    const made = await newKey(c.client.id, { name: 'one' });
    const count = async () =>
      (
        await h.services.store.db
          .selectFrom('webhook_messages')
          .select('id')
          .where('event_type', '=', 'key.created')
          .execute()
      ).length;
    const n = await count();
    // The same hash again: the unique index refuses the key, and the event goes with it.
    const row = await h.services.store.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', made.key.id)
      .executeTakeFirstOrThrow();
    const store = (await import('../src/keys/keys-store.ts')).createKeysStore(h.services.store.db);
    await expect(
      store.insert({ ...row, id: `${row.id.slice(0, -1)}Z` }, null, (trx) =>
        h.services.webhooks.emit(trx, { type: 'key.created', clientId: c.client.id, data: {} }),
      ),
    ).rejects.toThrow();
    expect(await count()).toBe(n);
  });

  it('sends credits.low at 20 % and at 0 % of the grant, once each, and again after a refill', async () => {
    const c = await createClient('KeyGamma');
    const l = await listen(c.apiKey, ['credits.low']);
    const k = await newKey(c.client.id, {
      name: 'metered',
      credits: 10,
      refill: { interval: 'daily', amount: 10 },
    });
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) codes.push((await h.services.keys.verify(k.apiKey)).code);
    expect(codes.filter((x) => x === 'VALID')).toHaveLength(10);
    const first = await l.events();
    expect(first.map((e) => [e.data.threshold, e.data.remaining])).toEqual([
      [20, 2],
      [0, 0],
    ]);
    expect(first[0]!.data).toMatchObject({
      key: { id: k.key.id, clientId: c.client.id },
      granted: 10,
      refill: { interval: 'daily', amount: 10 },
    });
    // A sweep finds nothing left unwritten.
    expect(await h.services.keys.sweepNotices()).toBe(0);
    // The next day's refill is a new grant: both thresholds once more.
    clock.advance(DAY);
    const again: string[] = [];
    for (let i = 0; i < 10; i++) again.push((await h.services.keys.verify(k.apiKey)).code);
    expect(again).toEqual(Array(10).fill('VALID'));
    const second = (await l.events()).slice(2);
    expect(second.map((e) => e.data.threshold)).toEqual([20, 0]);
    expectNoSecret([...first, ...second], [k.apiKey]);
  });

  it('a sweep writes the credits.low a stopped node left unwritten, once', async () => {
    const c = await createClient('KeyDelta');
    const l = await listen(c.apiKey, ['credits.low']);
    const k = await newKey(c.client.id, { name: 'metered', credits: 5 });
    // The balance crosses 20 % behind the verify path's back (a node killed in between).
    const pool = await h.services.store.db
      .selectFrom('api_keys')
      .select('credit_pool_id')
      .where('id', '=', k.key.id)
      .executeTakeFirstOrThrow();
    await h.services.store.db
      .updateTable('key_credit_pools')
      .set({ remaining: 1 })
      .where('id', '=', pool.credit_pool_id!)
      .execute();
    const [a, b] = await Promise.all([
      h.services.keys.sweepNotices(),
      h.services.keys.sweepNotices(),
    ]);
    expect(a + b).toBe(1);
    expect(await h.services.keys.sweepNotices()).toBe(0);
    const events = await l.events();
    expect(events.map((e) => [e.data.threshold, e.data.remaining])).toEqual([[20, 1]]);
  });

  it('sends key.expiring 7 days and 1 day before expiry, once each, whoever scans', async () => {
    const c = await createClient('KeyEpsilon');
    const l = await listen(c.apiKey, ['key.expiring']);
    const expiresAt = new Date(clock.nowMs() + 10 * DAY).toISOString();
    const k = await newKey(c.client.id, { name: 'temp', expiresAt });
    // A key inside a day from its birth gets the 1-day notice only.
    const short = await newKey(c.client.id, {
      name: 'short',
      expiresAt: new Date(clock.nowMs() + DAY / 2).toISOString(),
    });
    // A second node on the same database scans too.
    const other = await createHarness(engine, { clock, database: h.database });
    try {
      // PostgreSQL: both at once. SQLite: one after the other (two connections in one process
      // would block each other's thread: better-sqlite3 waits synchronously).
      const scans = [h, other].map((n) => () => n.services.keys.sweepNotices());
      const scanBoth = async () =>
        (engine === 'postgres'
          ? await Promise.all(scans.map((s) => s()))
          : [await scans[0]!(), await scans[1]!()]
        ).reduce((x, y) => x + y, 0);
      expect(await scanBoth()).toBe(1); // the short key's 1-day notice
      clock.advance(2 * DAY); // 8 days left: not yet
      expect(await scanBoth()).toBe(0);
      clock.advance(DAY + 1000); // just inside 7 days
      expect(await scanBoth()).toBe(1);
      expect(await scanBoth()).toBe(0);
      clock.advance(6 * DAY); // just inside 1 day
      expect(await scanBoth()).toBe(1);
      clock.advance(DAY); // expired: nothing more
      expect(await scanBoth()).toBe(0);
    } finally {
      await other.close();
    }
    const events = await l.events();
    expect(events.map((e) => [e.data.key.id, e.data.daysBefore])).toEqual([
      [short.key.id, 1],
      [k.key.id, 7],
      [k.key.id, 1],
    ]);
    expect(events[1]!.data).toMatchObject({ expiresAt, key: { name: 'temp' } });
    expectNoSecret(events, [k.apiKey, short.apiKey]);
  });

  it('sends ratelimit.exceeded once per key per window, across two nodes', async () => {
    const c = await createClient('KeyZeta');
    const l = await listen(c.apiKey, ['ratelimit.exceeded']);
    const k = await newKey(c.client.id, {
      name: 'limited',
      rateLimit: { limit: 1, windowSeconds: 3600 },
    });
    // Windows are aligned to the epoch: start at the top of an hour.
    clock.set(new Date(Math.ceil(clock.nowMs() / 3600_000) * 3600_000 + 1000));
    const other = await createHarness(engine, { clock, database: h.database });
    try {
      const codes: string[] = [];
      for (const node of [h, other, h, other, h])
        codes.push((await node.services.keys.verify(k.apiKey)).code);
      // Each node limits on its own here (no Redis): one call passes on each.
      expect(codes).toEqual(['VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
      let events = await l.events();
      expect(events).toHaveLength(1);
      expect(events[0]!.data).toMatchObject({
        key: { id: k.key.id, clientId: c.client.id },
        limit: 1,
        windowSeconds: 3600,
        endpoint: null,
      });
      // The next window: one more.
      clock.advance(3600_000);
      const next: string[] = [];
      for (const node of [h, h, other, other])
        next.push((await node.services.keys.verify(k.apiKey)).code);
      expect(next).toEqual(['VALID', 'RATE_LIMITED', 'VALID', 'RATE_LIMITED']);
      events = await l.events();
      expect(events).toHaveLength(2);
      expectNoSecret(events, [k.apiKey]);
    } finally {
      await other.close();
    }
  });
});
