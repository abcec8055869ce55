import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { migrations } from '../src/store/migrations/index.ts';
import { createBatchBuilder } from '../src/usage/usage-packed.ts';
import { compilePriceBook } from '../src/usage/usage-price-book.ts';
import { createUsageService } from '../src/usage/usage-service.ts';
import { createUsageStore } from '../src/usage/usage-store.ts';
import type { UsageEvent } from '../src/usage/usage-types.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createManualClock } from '../src/lib/clock.ts';
import {
  createTestDatabase,
  createTestStore,
  ENGINES,
  type TestDatabase,
} from './support/stores.ts';

const event = (i: number, over: Partial<UsageEvent> = {}): UsageEvent => ({
  requestId: `req_blocks_${i}`,
  clientId: i % 2 ? 'client_odd' : 'client_even',
  keyId: i % 3 ? 'key_a' : 'key_b',
  endpoint: i % 5 ? 'GET /v1/health' : 'POST /api/alert',
  method: i % 5 ? 'GET' : 'POST',
  status: i % 7 ? 200 : 429,
  environment: i % 11 ? 'live' : 'test',
  unitPriceMicros: i % 5 ? 1000 : 100_000,
  costMicros: i % 5 ? 1000 : 100_000,
  durationUs: 100 + i,
  // 12 an hour (700 events: 9 hours), with millisecond precision.
  createdAt: new Date(Date.UTC(2025, 9, 2, 9, 0, 0) + i * 43_201).toISOString(),
  ...over,
});

describe.each(ENGINES)('packed usage events on %s', (engine) => {
  let t: Awaited<ReturnType<typeof createTestStore>>;
  let store: Store;
  beforeAll(async () => {
    t = await createTestStore(engine);
    store = t.store;
  });
  afterAll(async () => t?.close());

  it('stores every field of every event and gives them back exactly', async () => {
    const usageStore = createUsageStore(store.db);
    const events = Array.from({ length: 700 }, (_, i) => event(i));
    expect(await usageStore.insertBatch({ id: 'use_exact', events })).toBe(700);
    const back = await usageStore.listEvents({
      from: '2025-10-02T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      clientIds: ['client_odd', 'client_even'],
    });
    const byId = (a: UsageEvent, b: UsageEvent) => a.requestId.localeCompare(b.requestId);
    expect(back.sort(byId)).toEqual([...events].sort(byId));
    // One row per (client, hour), not per call.
    const { n } = await store.db
      .selectFrom('usage_blocks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('batch_id', '=', 'use_exact')
      .executeTakeFirstOrThrow();
    const clientHours = new Set(events.map((e) => `${e.clientId} ${e.createdAt.slice(0, 13)}`));
    expect(Number(n)).toBe(clientHours.size);
    expect(clientHours.size).toBeLessThan(20);
  });

  it('stores a packed batch (as the request thread hands it over) exactly, and once', async () => {
    const usageStore = createUsageStore(store.db, store.sqlite);
    const events = Array.from({ length: 700 }, (_, i) =>
      event(i, { requestId: `req_packed_${i}`, clientId: i % 2 ? 'client_p1' : 'client_p2' }),
    );
    const builder = createBatchBuilder();
    for (const e of events)
      builder.push(e, e.unitPriceMicros, e.costMicros, e.durationUs, Date.parse(e.createdAt));
    const packed = builder.seal('use_packed')!;
    expect(await usageStore.insertBatch(packed)).toBe(700);
    expect(await usageStore.insertBatch(packed)).toBe(0);
    const back = await usageStore.listEvents({
      from: '2025-10-02T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      clientIds: ['client_p1', 'client_p2'],
    });
    const byId = (a: UsageEvent, b: UsageEvent) => a.requestId.localeCompare(b.requestId);
    expect(back.sort(byId)).toEqual([...events].sort(byId));
    const rollups = await usageStore.aggregateRollups(
      {
        from: '2025-10-02T00:00:00.000Z',
        to: '2025-10-03T00:00:00.000Z',
        clientIds: ['client_p1', 'client_p2'],
      },
      ['endpoint'],
    );
    const sum = (ep: string) => events.filter((e) => e.endpoint === ep);
    expect(rollups.sort((a, b) => String(a.endpoint).localeCompare(String(b.endpoint)))).toEqual([
      {
        endpoint: 'GET /v1/health',
        calls: sum('GET /v1/health').length,
        costMicros: sum('GET /v1/health').reduce((a, e) => a + e.costMicros, 0),
      },
      {
        endpoint: 'POST /api/alert',
        calls: sum('POST /api/alert').length,
        costMicros: sum('POST /api/alert').reduce((a, e) => a + e.costMicros, 0),
      },
    ]);
  });

  it('writes a batch once: writing it again (a retry after a lost answer) is a no-op', async () => {
    const usageStore = createUsageStore(store.db);
    const events = Array.from({ length: 50 }, (_, i) => event(i, { clientId: 'client_retry' }));
    expect(await usageStore.insertBatch({ id: 'use_retry', events })).toBe(50);
    expect(await usageStore.insertBatch({ id: 'use_retry', events })).toBe(0);
    expect(await usageStore.countEvents('client_retry')).toEqual({
      calls: 50,
      costMicros: events.reduce((a, e) => a + e.costMicros, 0),
    });
    const rollups = await usageStore.aggregateRollups(
      {
        from: '2025-10-02T00:00:00.000Z',
        to: '2025-10-03T00:00:00.000Z',
        clientIds: ['client_retry'],
      },
      [],
    );
    expect(rollups[0]!.calls).toBe(50);
  });

  it('skips a reported request id seen in an earlier batch, and counts the rest', async () => {
    const usageStore = createUsageStore(store.db);
    const reported = (i: number) => event(i, { clientId: 'client_ext', external: true });
    expect(
      await usageStore.insertBatch({ id: 'use_ext1', events: [reported(1), reported(2)] }),
    ).toBe(2);
    expect(
      await usageStore.insertBatch({
        id: 'use_ext2',
        events: [reported(2), reported(3), reported(3)],
      }),
    ).toBe(1);
    expect((await usageStore.countEvents('client_ext')).calls).toBe(3);
  });
});

describe.each(ENGINES)('upgrading a database with per-row usage events on %s', (engine) => {
  let database: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    store = createStore(database.url);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('moves every event into blocks, keeps the rollups, and still skips old reported ids', async () => {
    // The schema as it was before 0006: everything but the packed events (and 0016, which
    // rewrites them).
    const before = Object.fromEntries(
      Object.entries(migrations).filter(
        ([name]) => name !== '0006-usage-blocks' && name !== '0016-usage-blocks-one-version',
      ),
    );
    const { error } = await new Migrator({
      db: store.db,
      provider: { getMigrations: async () => before },
      allowUnorderedMigrations: true,
    }).migrateToLatest();
    expect(error).toBeUndefined();
    const old = Array.from({ length: 12_345 }, (_, i) => event(i));
    for (let i = 0; i < old.length; i += 500) {
      await sql`insert into usage_events (request_id, client_id, key_id, endpoint, method, status, environment, unit_price_micros, cost_micros, duration_us, created_at) values ${sql.join(
        old
          .slice(i, i + 500)
          .map(
            (e) =>
              sql`(${e.requestId}, ${e.clientId}, ${e.keyId}, ${e.endpoint}, ${e.method}, ${e.status}, ${e.environment}, ${e.unitPriceMicros}, ${e.costMicros}, ${e.durationUs}, ${e.createdAt})`,
          ),
      )}`.execute(store.db);
    }

    expect(await migrateToLatest(store.db)).toEqual([
      '0006-usage-blocks',
      '0016-usage-blocks-one-version',
    ]);

    const usageStore = createUsageStore(store.db);
    const back = await usageStore.listEvents({
      from: '2025-10-01T00:00:00.000Z',
      to: '2025-10-12T00:00:00.000Z',
      clientIds: ['client_odd', 'client_even'],
    });
    const byId = (a: UsageEvent, b: UsageEvent) => a.requestId.localeCompare(b.requestId);
    expect(back.sort(byId)).toEqual([...old].sort(byId));
    const tables = await store.db.introspection.getTables();
    expect(tables.map((x) => x.name)).not.toContain('usage_events');

    // An unaligned query reads the moved events at its edges.
    const usage = createUsageService({
      usageStore,
      priceBook: compilePriceBook({}),
      currency: 'EUR',
      clock: createManualClock(new Date('2025-10-05T00:00:00.000Z')),
      logger: createLogger({ level: 'silent' }),
    });
    const from = '2025-10-02T09:17:00.000Z';
    const to = '2025-10-02T10:03:30.000Z';
    const s = await usage.summary({ clientIds: ['client_odd'], from, to, groupBy: 'endpoint' });
    const expected = old.filter(
      (e) => e.clientId === 'client_odd' && e.createdAt >= from && e.createdAt < to,
    );
    expect(s.totals.calls).toBe(expected.length);
    expect(s.totals.costMicros).toBe(expected.reduce((a, e) => a + e.costMicros, 0));

    // A reporter retrying an event it sent before the upgrade is still counted once.
    expect(
      await usageStore.insertBatch({
        id: 'use_after_upgrade',
        events: [{ ...old[7]!, external: true }],
      }),
    ).toBe(0);
  });
});

/** A block as version 1 stored it (an array per column), for the upgrade below. */
function v1Block(events: UsageEvent[], hour: string): string {
  const shapes: Array<[string, string, string, string, number]> = [];
  const s = events.map((e) => {
    const shape: [string, string, string, string, number] = [
      e.keyId,
      e.endpoint,
      e.method,
      e.environment,
      e.unitPriceMicros,
    ];
    let i = shapes.findIndex((x) => x.join('|') === shape.join('|'));
    if (i < 0) i = shapes.push(shape) - 1;
    return i;
  });
  return JSON.stringify({
    v: 1,
    shapes,
    id: events.map((e) => e.requestId),
    s,
    st: events.map((e) => e.status),
    t: events.map((e) => Date.parse(e.createdAt) - Date.parse(hour)),
    d: events.map((e) => e.durationUs),
    c: events.map((e) => e.costMicros),
  });
}

describe.each(ENGINES)('upgrading version 1 usage blocks on %s', (engine) => {
  let database: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    store = createStore(database.url);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('rewrites them in place as the one current version, with exactly the same events', async () => {
    const before = Object.fromEntries(
      Object.entries(migrations).filter(([name]) => name !== '0016-usage-blocks-one-version'),
    );
    const { error } = await new Migrator({
      db: store.db,
      provider: { getMigrations: async () => before },
      allowUnorderedMigrations: true,
    }).migrateToLatest();
    expect(error).toBeUndefined();
    // 700 events of two clients over 9 hours, stored as version 1 blocks by hand, and a batch
    // stored by today's code beside them (left as it is).
    const old = Array.from({ length: 700 }, (_, i) =>
      event(
        i,
        i === 3 ? { requestId: 'an id with spaces and more than thirty-two characters' } : {},
      ),
    );
    const blocks = new Map<string, UsageEvent[]>();
    for (const e of old) {
      const k = `${e.clientId} ${e.createdAt.slice(0, 13)}:00:00.000Z`;
      blocks.set(k, [...(blocks.get(k) ?? []), e]);
    }
    let seq = 0;
    for (const [k, events] of blocks) {
      const [clientId, hour] = k.split(' ') as [string, string];
      await store.db
        .insertInto('usage_blocks')
        .values({
          batch_id: 'use_v1',
          seq: seq++,
          client_id: clientId,
          hour,
          calls: events.length,
          cost_micros: events.reduce((a, e) => a + e.costMicros, 0),
          events: v1Block(events, hour),
        })
        .execute();
    }
    const usageStore = createUsageStore(store.db);
    const current = Array.from({ length: 50 }, (_, i) => event(i, { requestId: `req_v2_${i}` }));
    await usageStore.insertBatch({ id: 'use_v2', events: current });
    const v2Before = await store.db
      .selectFrom('usage_blocks')
      .select(['seq', 'events'])
      .where('batch_id', '=', 'use_v2')
      .orderBy('seq')
      .execute();

    expect(await migrateToLatest(store.db)).toEqual(['0016-usage-blocks-one-version']);

    const rows = await store.db.selectFrom('usage_blocks').select(['batch_id', 'events']).execute();
    expect(rows.every((r) => r.events.startsWith('{"v":2,'))).toBe(true);
    expect(rows.filter((r) => r.batch_id === 'use_v1')).toHaveLength(blocks.size);
    const back = await usageStore.listEvents({
      from: '2025-10-02T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      clientIds: ['client_odd', 'client_even'],
    });
    const byId = (a: UsageEvent, b: UsageEvent) => a.requestId.localeCompare(b.requestId);
    expect(back.sort(byId)).toEqual([...old, ...current].sort(byId));
    expect(
      await store.db
        .selectFrom('usage_blocks')
        .select(['seq', 'events'])
        .where('batch_id', '=', 'use_v2')
        .orderBy('seq')
        .execute(),
    ).toEqual(v2Before);
  });
});
