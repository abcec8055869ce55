import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/infra/logger.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { createStore, type Store } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { compilePriceBook } from '../src/usage/usage-price-book.ts';
import { createUsageService, type UsageService } from '../src/usage/usage-service.ts';
import { createUsageStore } from '../src/usage/usage-store.ts';
import type { UsageEvent } from '../src/usage/usage-types.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';

/** The plain query path: stored calls as rows, one client at a time, a page at a time. */

const HOUR = Date.UTC(2025, 9, 2, 9);

const event = (i: number, over: Partial<UsageEvent> = {}): UsageEvent => ({
  requestId: `req_rows_${String(i).padStart(4, '0')}`,
  clientId: i % 4 ? 'client_a' : 'client_b',
  keyId: i % 3 ? 'key_1' : 'key_2',
  endpoint: i % 5 ? 'GET /v1/health' : 'POST /api/alert',
  method: i % 5 ? 'GET' : 'POST',
  status: i % 7 ? 200 : 429,
  environment: i % 11 ? 'live' : 'test',
  unitPriceMicros: i % 5 ? 1000 : 100_000,
  costMicros: i % 5 ? 1000 : 100_000,
  durationUs: 100 + i,
  // 300 events over 3 hours and a bit, with millisecond precision.
  createdAt: new Date(HOUR + i * 37_003).toISOString(),
  ...over,
});

/** Every page of `usage.events`, each at most `limit` long. */
async function allPages(usage: UsageService, q: Parameters<UsageService['events']>[0]) {
  const rows = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await usage.events({ ...q, cursor });
    expect(page.data.length).toBeLessThanOrEqual(q.limit!);
    rows.push(...page.data);
    if (!page.nextCursor) return rows;
    cursor = page.nextCursor;
  }
  throw new Error('no last page');
}

describe.each(ENGINES)('usage events as rows on %s', (engine) => {
  let database: TestDatabase;
  let store: Store;
  let usage: UsageService;
  // Two batches whose hours overlap: listed by hour, then in the order they were written.
  const first = Array.from({ length: 200 }, (_, i) => event(i));
  const second = Array.from({ length: 100 }, (_, i) =>
    event(i + 100, { requestId: `req_late_${i}` }),
  );
  const key = (e: UsageEvent, batch: number) => `${e.createdAt.slice(0, 13)} ${batch}`;
  const stored = [...first.map((e) => [e, 1] as const), ...second.map((e) => [e, 2] as const)];
  const inOrder = (clientId: string, keep: (e: UsageEvent) => boolean = () => true) =>
    stored
      .filter(([e]) => e.clientId === clientId && keep(e))
      .sort(([a, x], [b, y]) => (key(a, x) < key(b, y) ? -1 : key(a, x) > key(b, y) ? 1 : 0))
      .map(([e]) => e);

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    store = createStore(database.url);
    await migrateToLatest(store.db);
    const usageStore = createUsageStore(store.db);
    await usageStore.insertBatch({ id: 'use_1', events: first });
    await usageStore.insertBatch({ id: 'use_2', events: second });
    usage = createUsageService({
      usageStore,
      priceBook: compilePriceBook({}),
      currency: 'EUR',
      clock: createManualClock(new Date('2025-10-05T00:00:00.000Z')),
      logger: createLogger({ level: 'silent' }),
    });
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it("pages through one client's calls, every field exact, and nobody else's", async () => {
    const range = { from: '2025-10-02T00:00:00.000Z', to: '2025-10-03T00:00:00.000Z' };
    const rows = await allPages(usage, { clientId: 'client_a', ...range, limit: 17 });
    expect(rows).toEqual(inOrder('client_a'));
    expect(rows).toHaveLength(225);
    const b = await allPages(usage, { clientId: 'client_b', ...range, limit: 1000 });
    expect(b).toEqual(inOrder('client_b'));
    expect(await usage.events({ clientId: 'client_c', ...range })).toEqual({
      data: [],
      nextCursor: null,
    });
  });

  it('keeps to [from, to) to the millisecond and to one key', async () => {
    const from = '2025-10-02T09:41:17.120Z';
    const to = '2025-10-02T11:05:00.001Z';
    const inRange = (e: UsageEvent) => e.createdAt >= from && e.createdAt < to;
    const rows = await allPages(usage, { clientId: 'client_a', from, to, limit: 10 });
    expect(rows).toEqual(inOrder('client_a', inRange));
    expect(rows.length).toBeGreaterThan(50);
    const one = await allPages(usage, { clientId: 'client_a', from, to, keyId: 'key_2', limit: 7 });
    expect(one).toEqual(inOrder('client_a', (e) => inRange(e) && e.keyId === 'key_2'));
  });

  it('refuses a cursor it did not make', async () => {
    const q = { clientId: 'client_a', from: '2025-10-02', to: '2025-10-03' };
    await expect(usage.events({ ...q, cursor: 'not-a-cursor' })).rejects.toMatchObject({
      code: 'validation_failed',
    });
  });

  it('lists them with `keyplane usage events`', async () => {
    const env = { KEYPLANE_DATABASE_URL: database.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    const args = ['usage', 'events', '--client', 'client_b', '--from', '2025-10-02'];
    const json = await runKeyplaneInProcess(
      [...args, '--to', '2025-10-03', '--limit', '5', '--json'],
      { env },
    );
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout) as { data: UsageEvent[]; nextCursor: string };
    expect(page.data).toEqual(inOrder('client_b').slice(0, 5));
    const next = await runKeyplaneInProcess(
      [...args, '--to', '2025-10-03', '--limit', '5', '--cursor', page.nextCursor, '--json'],
      { env },
    );
    expect((JSON.parse(next.stdout) as { data: UsageEvent[] }).data).toEqual(
      inOrder('client_b').slice(5, 10),
    );
    const human = await runKeyplaneInProcess([...args, '--to', '2025-10-03', '--limit', '2'], {
      env,
    });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('req_rows_0000');
    expect(human.stdout).toContain('more: --cursor ');
    // The summary still answers on the parent command.
    const summary = await runKeyplaneInProcess(
      ['usage', '--client', 'client_b', '--from', '2025-10-02', '--to', '2025-10-03', '--json'],
      { env },
    );
    expect(JSON.parse(summary.stdout).totals.calls).toBe(inOrder('client_b').length);
  });
});
