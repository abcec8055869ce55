import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger } from '../src/infra/logger.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createStore } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { compilePriceBook } from '../src/usage/usage-price-book.ts';
import { createUsageService } from '../src/usage/usage-service.ts';
import { createUsageStore } from '../src/usage/usage-store.ts';
import { createSqliteUsageWriter } from '../src/usage/usage-writer.ts';
import { sql } from 'kysely';
import { addNaiveEvents, NAIVE_EVENTS, withBenchPostgres, type BenchResult } from './lib.ts';

export const description =
  'Usage queries at 1M events: billing lines for a week and one client’s 30-day usage by day, from the rollups vs a GROUP BY over the raw events';

const ENDPOINTS = [
  'POST /api/video/buffer',
  'POST /api/video/analyze',
  'POST /api/alert',
  'GET /v1/health',
];
const N = Number(process.env.KEYPLANE_BENCH_EVENTS ?? 1_000_000);
const WEEK_MS = 7 * 86_400_000;
const START = Date.parse('2025-09-29T00:00:00.000Z'); // a Monday

async function timeIt(fn: () => Promise<unknown>, minMs = 1000): Promise<number> {
  await fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function queries(databaseUrl: string, label: string): Promise<BenchResult[]> {
  const store = createStore(databaseUrl);
  await migrateToLatest(store.db);
  const usageStore = createUsageStore(store.db);
  const usage = createUsageService({
    usageStore,
    writer: store.engine === 'sqlite' ? createSqliteUsageWriter(databaseUrl) : undefined,
    priceBook: compilePriceBook({ 'POST /api/video/analyze': '0.05', '*': '0.01' }),
    currency: 'EUR',
    clock: systemClock,
    logger: createLogger({ destination: pino.destination({ dest: '/dev/null', sync: false }) }),
  });
  for (let i = 0; i < N; i++) {
    usage.record({
      requestId: `req_${i}`,
      clientId: `client_${i % 50}`,
      keyId: `key_${i % 200}`,
      endpoint: ENDPOINTS[i % ENDPOINTS.length]!,
      method: 'POST',
      status: i % 97 === 0 ? 404 : 200,
      environment: i % 13 === 0 ? 'test' : 'live',
      durationMs: 1,
      at: new Date(START + Math.floor((i * WEEK_MS) / N)),
    });
    if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
  }
  await usage.close();
  // The same events as rows of the naive table the baselines GROUP BY.
  const all = await usageStore.listEvents({
    from: new Date(START).toISOString(),
    to: new Date(START + 2 * WEEK_MS).toISOString(),
  });
  if (all.length !== N) throw new Error(`stored ${all.length} of ${N} events`);
  await addNaiveEvents(store.db, all);

  const week = { from: new Date(START).toISOString(), to: new Date(START + WEEK_MS).toISOString() };
  const month = { from: '2025-09-10T08:30:00.000Z', to: '2025-10-10T08:30:00.000Z' };
  const billing = await timeIt(() => usage.billingLines(week));
  const billingRaw = await timeIt(() =>
    sql`
      select client_id, endpoint, unit_price_micros, count(*) as calls, sum(cost_micros) as cost
      from ${sql.table(NAIVE_EVENTS)}
      where created_at >= ${week.from} and created_at < ${week.to} and environment = 'live'
      group by client_id, endpoint, unit_price_micros`.execute(store.db),
  );
  const client = await timeIt(() =>
    usage.summary({ clientIds: ['client_7'], ...month, groupBy: 'day' }),
  );
  const clientRaw = await timeIt(() =>
    sql`
      select substr(created_at, 1, 10) as day, environment, count(*) as calls, sum(cost_micros) as cost
      from ${sql.table(NAIVE_EVENTS)}
      where client_id = 'client_7' and created_at >= ${month.from} and created_at < ${month.to}
      group by substr(created_at, 1, 10), environment`.execute(store.db),
  );
  // The two roads must agree, or the speed means nothing.
  const lines = await usage.billingLines(week);
  const { rows } = await sql<{ cost: number }>`
    select sum(cost_micros) as cost from ${sql.table(NAIVE_EVENTS)}
    where created_at >= ${week.from} and created_at < ${week.to} and environment = 'live'`.execute(
    store.db,
  );
  const sum = lines.reduce((a, l) => a + l.amountMicros, 0);
  if (sum !== Number(rows[0]!.cost)) throw new Error(`rollups ${sum} ≠ raw ${rows[0]!.cost}`);
  const one = await usage.summary({ clientIds: ['client_7'], ...month, groupBy: 'day' });
  const { rows: c7 } = await sql<{ calls: number }>`
    select count(*) as calls from ${sql.table(NAIVE_EVENTS)}
    where client_id = 'client_7' and created_at >= ${month.from} and created_at < ${month.to}`.execute(
    store.db,
  );
  if (one.totals.calls !== Number(c7[0]!.calls))
    throw new Error(`summary ${one.totals.calls} ≠ raw ${c7[0]!.calls}`);
  await store.close();
  const events = `${(N / 1e6).toLocaleString('en-US')}M events`;
  return [
    {
      name: `${label}: billing lines, one week, all clients (${events})`,
      value: billing,
      unit: 'queries/s',
      baseline: { name: 'GROUP BY over a row per event', value: billingRaw },
      ratio: billing / billingRaw,
    },
    {
      name: `${label}: one client, 30 days by day (unaligned bounds)`,
      value: client,
      unit: 'queries/s',
      baseline: { name: 'GROUP BY over a row per event', value: clientRaw },
      ratio: client / clientRaw,
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-query-'));
  try {
    results.push(...(await queries(`sqlite:${join(dir, 'q.db')}`, 'SQLite')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  results.push(
    ...((await withBenchPostgres('kp_bench_query', (url) => queries(url, 'PostgreSQL'))) ?? []),
  );
  return results;
}
