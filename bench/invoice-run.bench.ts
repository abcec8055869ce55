import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { createClientsStore } from '../src/clients/index.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/infra/logger.ts';
import { loadKeyring } from '../src/infra/master-key.ts';
import { createMetrics } from '../src/infra/metrics.ts';
import { newId } from '../src/lib/ids.ts';
import { createServices } from '../src/services.ts';
import { createStore } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { createUsageStore } from '../src/usage/usage-store.ts';
import type { UsageEvent } from '../src/usage/usage-types.ts';
import {
  addNaiveEvents,
  NAIVE_EVENTS,
  NO_POSTGRES_NOTE,
  withBenchPostgres,
  type BenchResult,
} from './lib.ts';

export const description =
  'Invoice run over 10,000 clients and 1,000,000 usage events (one ISO week), SQLite and PostgreSQL, as a ratio to a plain GROUP BY over the same events';

const CLIENTS = Number(process.env.KEYPLANE_BENCH_INVOICE_CLIENTS ?? 10_000);
const EVENTS = Number(process.env.KEYPLANE_BENCH_INVOICE_EVENTS ?? 1_000_000);
const PERIOD = '2025-W40';
const FROM = '2025-09-29T00:00:00.000Z';
const TO = '2025-10-06T00:00:00.000Z';
const WEEK_MS = 7 * 86_400_000;
/** Seed 02's price book, in micros. */
const ENDPOINTS: Array<[string, number]> = [
  ['POST /api/video/buffer', 10_000],
  ['POST /api/video/analyze', 50_000],
  ['POST /api/alert', 100_000],
];

/** 10,000 clients and 1,000,000 events, written through the owning modules' store functions. */
async function seed(databaseUrl: string): Promise<void> {
  const store = createStore(databaseUrl);
  try {
    await migrateToLatest(store.db);
    const clients = createClientsStore(store.db);
    const now = new Date().toISOString();
    const ids: string[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const id = newId('client');
      ids.push(id);
      await clients.insert({
        id,
        name: `Client ${i}`,
        email: `billing${i}@client${i}.example`,
        tier: 'default',
        status: 'active',
        metadata: '{}',
        default_rate_limit: null,
        created_at: now,
        updated_at: now,
        suspended_at: null,
        deleted_at: null,
      });
    }
    const usage = createUsageStore(store.db);
    const start = Date.parse(FROM);
    const batch: UsageEvent[] = [];
    // Keyplane's store, and the same events as rows of the naive table the baseline reads.
    const write = async (events: UsageEvent[]) => {
      await usage.insertBatch({ id: newId('usage'), events });
      await addNaiveEvents(store.db, events);
    };
    for (let i = 0; i < EVENTS; i++) {
      const c = i % CLIENTS;
      const [endpoint, unit] = ENDPOINTS[(i * 7 + c) % 3]!;
      const test = Math.floor(i / CLIENTS) % 50 === 0; // test-key calls: metered, never invoiced
      batch.push({
        requestId: `req_bench_${i}`,
        clientId: ids[c]!,
        keyId: `key_${c}`,
        endpoint,
        method: 'POST',
        status: 200,
        environment: test ? 'test' : 'live',
        unitPriceMicros: test ? 0 : unit,
        costMicros: test ? 0 : unit,
        durationUs: 1000,
        createdAt: new Date(start + Math.floor((i / EVENTS) * WEEK_MS)).toISOString(),
      });
      if (batch.length === 10_000) await write(batch.splice(0));
    }
    await write(batch.splice(0));
  } finally {
    await store.close();
  }
}

async function measureEngine(
  label: string,
  databaseUrl: string,
  dir: string,
): Promise<BenchResult[]> {
  const t0 = performance.now();
  await seed(databaseUrl);
  const seedSeconds = (performance.now() - t0) / 1000;

  const config = loadConfig(
    {
      KEYPLANE_DATA_DIR: dir,
      KEYPLANE_DATABASE_URL: databaseUrl,
      KEYPLANE_MASTER_KEY: randomBytes(32).toString('base64'),
      KEYPLANE_LOG_LEVEL: 'silent',
    },
    dir,
  );
  const store = createStore(databaseUrl);
  const services = createServices({
    store,
    config,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics({ defaults: false }),
    keyring: loadKeyring(config),
  });
  try {
    // The baseline: the plain GROUP BY a hand-written billing script would run over the events.
    const aggregate = async () =>
      (
        await sql<{ client_id: string; endpoint: string; calls: number; cost: number }>`
          select client_id, endpoint, unit_price_micros, count(*) as calls, sum(cost_micros) as cost
          from ${sql.table(NAIVE_EVENTS)}
          where created_at >= ${FROM} and created_at < ${TO} and environment = 'live'
          group by client_id, endpoint, unit_price_micros`.execute(store.db)
      ).rows;
    await aggregate(); // warm the cache, as the run below benefits from the seed's writes
    const times: number[] = [];
    let rows: Awaited<ReturnType<typeof aggregate>> = [];
    for (let i = 0; i < 3; i++) {
      const a = performance.now();
      rows = await aggregate();
      times.push(performance.now() - a);
    }
    const aggregateMs = times.sort((x, y) => x - y)[1]!;

    const r0 = performance.now();
    const result = await services.billing.run({
      period: PERIOD,
      actor: { type: 'system', id: 'bench' },
    });
    const runMs = performance.now() - r0;
    const a0 = performance.now();
    const again = await services.billing.run({
      period: PERIOD,
      actor: { type: 'system', id: 'bench' },
    });
    const rerunMs = performance.now() - a0;

    // Proof: one invoice per client, gap-free numbers, totals equal to the events to the micro.
    const expected = new Map<string, number>();
    for (const r of rows)
      expected.set(r.client_id, (expected.get(r.client_id) ?? 0) + Number(r.cost));
    const invoices = [];
    let cursor: string | undefined;
    do {
      const page = await services.billing.list({ period: PERIOD, limit: 1000, cursor });
      invoices.push(...page.data);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const numbers = new Set(invoices.map((i) => i.number));
    const mismatched = invoices.filter((i) => expected.get(i.clientId) !== i.totalMicros).length;
    const ok =
      invoices.length === CLIENTS &&
      new Set(invoices.map((i) => i.clientId)).size === CLIENTS &&
      numbers.size === CLIENTS &&
      numbers.has(`INV-${PERIOD}-${String(CLIENTS).padStart(4, '0')}`) &&
      mismatched === 0 &&
      result.created === CLIENTS &&
      again.created === 0;
    if (!ok) {
      throw new Error(
        `invoice run on ${label}: ${invoices.length} invoices, ${numbers.size} numbers, ${mismatched} totals off, created ${result.created}, re-run created ${again.created}`,
      );
    }
    const grand = invoices.reduce((n, i) => n + i.totalMicros, 0);
    const note = `${CLIENTS.toLocaleString('en-US')} invoices, totals = events to the micro (${(grand / 1e6).toFixed(2)} EUR); seeding took ${seedSeconds.toFixed(0)} s`;
    return [
      {
        name: `invoice run, ${label} (${CLIENTS.toLocaleString('en-US')} clients, ${EVENTS.toLocaleString('en-US')} events)`,
        value: runMs,
        unit: 'ms',
        baseline: { name: 'plain GROUP BY over the events', value: aggregateMs },
        ratio: runMs / aggregateMs,
        target: '≤ 5× (lower is better)',
        note,
      },
      {
        name: `invoice re-run of the same period, ${label} (issues nothing)`,
        value: rerunMs,
        unit: 'ms',
        baseline: { name: 'plain GROUP BY over the events', value: aggregateMs },
        ratio: rerunMs / aggregateMs,
        target: '≤ 5× (lower is better)',
      },
    ];
  } finally {
    await services.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-invoices-'));
  try {
    results.push(...(await measureEngine('SQLite', `sqlite:${join(dir, 'invoices.db')}`, dir)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const pgDir = mkdtempSync(join(tmpdir(), 'kp-bench-invoices-pg-'));
  try {
    const got = await withBenchPostgres('kp_bench_invoices', async (url, throwaway) => {
      const rows = await measureEngine('PostgreSQL', url, pgDir);
      if (throwaway)
        for (const r of rows)
          r.note = [r.note, 'throwaway server (fsync off)'].filter(Boolean).join('; ');
      return rows;
    });
    results.push(
      ...(got ?? [
        { name: 'invoice run, PostgreSQL', value: Number.NaN, unit: 'ms', note: NO_POSTGRES_NOTE },
      ]),
    );
  } finally {
    rmSync(pgDir, { recursive: true, force: true });
  }
  return results;
}
