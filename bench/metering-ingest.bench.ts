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
import { benchSeconds, NO_POSTGRES_NOTE, withBenchPostgres, type BenchResult } from './lib.ts';

export const description =
  'Usage ingestion: events recorded and flushed (raw rows + hourly rollups, one transaction per batch) per second, SQLite and PostgreSQL';

const ENDPOINTS = [
  'POST /api/video/buffer',
  'POST /api/video/analyze',
  'POST /api/alert',
  'GET /v1/health',
  'POST /v1/proxy/gemini/*',
];

/** Records `n` events as the HTTP hook would (50 clients, 200 keys, 5 endpoints) and flushes them all. */
async function ingest(databaseUrl: string, n: number): Promise<number> {
  const store = createStore(databaseUrl);
  await migrateToLatest(store.db);
  const usage = createUsageService({
    usageStore: createUsageStore(store.db),
    // As services.ts wires it: SQLite batches go through the writer thread.
    writer: store.engine === 'sqlite' ? createSqliteUsageWriter(databaseUrl) : undefined,
    priceBook: compilePriceBook({
      'POST /api/video/buffer': 0.01,
      'POST /api/alert': '0.10',
      '*': '0.001',
    }),
    currency: 'EUR',
    clock: systemClock,
    logger: createLogger({ destination: pino.destination({ dest: '/dev/null', sync: false }) }),
  });
  const now = Date.now();
  const run = `r${now.toString(36)}`;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    usage.record({
      requestId: `req_${run}_${i}`,
      clientId: `client_${i % 50}`,
      keyId: `key_${i % 200}`,
      endpoint: ENDPOINTS[i % ENDPOINTS.length]!,
      method: 'POST',
      status: i % 97 === 0 ? 404 : 200,
      environment: i % 13 === 0 ? 'test' : 'live',
      durationMs: 1.2,
      // Calls are recorded as they finish, so times rise (here across the last two hours).
      at: new Date(now - 7_200_000 + Math.floor((i * 7_200_000) / n)),
    });
    // Let the flusher run as it would under live traffic.
    if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
  }
  await usage.close();
  const seconds = (performance.now() - t0) / 1000;
  const written = await createUsageStore(store.db).countEvents();
  await store.close();
  if (written.calls !== n) throw new Error(`ingest: wrote ${written.calls} of ${n} events`);
  return n / seconds;
}

export async function run(): Promise<BenchResult[]> {
  const n = Math.round(100_000 * Math.max(1, benchSeconds(4) / 4));
  const results: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-ingest-'));
  try {
    const sqlite = await ingest(`sqlite:${join(dir, 'ingest.db')}`, n);
    results.push({
      name: `usage ingestion, SQLite (${n.toLocaleString('en-US')} events)`,
      value: sqlite,
      unit: 'events/s',
      target: '≥ 50,000 events/s',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const got = await withBenchPostgres('kp_bench_ingest', async (url, throwaway) => ({
    name: `usage ingestion, PostgreSQL (${n.toLocaleString('en-US')} events)`,
    value: await ingest(url, n),
    unit: 'events/s',
    target: '≥ 50,000 events/s',
    note: throwaway ? 'throwaway server (fsync off, as in the test suite)' : undefined,
  }));
  results.push(
    got ?? {
      name: 'usage ingestion, PostgreSQL',
      value: Number.NaN,
      unit: 'events/s',
      note: NO_POSTGRES_NOTE,
    },
  );
  return results;
}
