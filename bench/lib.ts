/**
 * Helpers for `npm run bench`: servers to measure (a real Keyplane listening on loopback, a bare
 * Fastify baseline), autocannon runs, interleaved comparisons, and the results table.
 *
 * Absolute numbers depend on the machine; every bench reports a ratio against a baseline
 * measured in the same run, and nothing here fails on a number.
 *
 * @example
 *   const kp = await startKeyplane();
 *   const bare = await startBareFastify();
 *   const results = await compare({
 *     baseline: { name: 'bare fastify', url: `${bare.url}/healthz` },
 *     candidates: [{ name: 'keyplane /healthz', url: `${kp.url}/healthz`, target: '≥ 0.5' }],
 *   });
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { bufferedDestination, createLogger } from '../src/infra/logger.ts';
import { startServer } from '../src/server.ts';
import type { Services } from '../src/services.ts';
import type { Engine } from '../src/store/create-db.ts';
import type { UsageEvent } from '../src/usage/usage-types.ts';
import { startPostgres } from '../test/support/servers.ts';

export interface BenchResult {
  name: string;
  value: number;
  /** e.g. 'req/s', 'ops/s', 'ms'. */
  unit: string;
  baseline?: { name: string; value: number };
  /** Against the baseline (for throughput: higher is better); compare() gives the median per-round ratio. */
  ratio?: number;
  /** What the ratio should be, as text for the reader (e.g. '≥ 0.5'); never enforced. */
  target?: string;
  /** Anything the reader should know: errors, non-2xx answers, the spread between rounds. */
  note?: string;
}

/** A bench module: `bench/<name>.bench.ts` exporting `run`. */
export interface BenchModule {
  description?: string;
  run(): Promise<BenchResult[]>;
}

/** Seconds per measurement: KEYPLANE_BENCH_SECONDS, else the bench's default. */
export function benchSeconds(fallback: number): number {
  const v = Number(process.env.KEYPLANE_BENCH_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

export interface MeasureOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  /** A sequence of requests each connection cycles through (overrides method/headers/body). */
  requests?: Array<{
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }>;
  connections?: number;
  pipelining?: number;
  seconds?: number;
}

export interface Measurement {
  /** 2xx responses per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
}

/**
 * Loads `url` with autocannon for `seconds`. The load generator runs in a worker thread so that
 * an in-process server keeps the main thread to itself (one core each on a 2-core machine).
 */
export async function measure(url: string, options: MeasureOptions = {}): Promise<Measurement> {
  const result = await autocannon({
    url,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    requests: options.requests as autocannon.Request[] | undefined,
    connections: options.connections ?? 10,
    pipelining: options.pipelining ?? 1,
    duration: options.seconds ?? benchSeconds(4),
    workers: 1,
  });
  const ok = result['2xx'];
  return {
    rps: ok / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

export interface Target {
  name: string;
  url: string;
  options?: MeasureOptions;
  /** The ratio this target should reach against the baseline, for the reader. */
  target?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Measures the baseline and each candidate in alternation for `rounds` rounds (after a short
 * warm-up of each), so drift on a shared machine hits all of them alike, and reports each
 * candidate's median req/s with the median of its per-round ratios to the baseline.
 */
export async function compare(spec: {
  baseline: Target;
  candidates: Target[];
  rounds?: number;
  seconds?: number;
  warmupSeconds?: number;
  log?: (line: string) => void;
}): Promise<BenchResult[]> {
  const rounds = spec.rounds ?? 3;
  const seconds = spec.seconds ?? benchSeconds(4);
  const log = spec.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const all = [spec.baseline, ...spec.candidates];
  const runs = new Map<Target, Measurement[]>(all.map((t) => [t, []]));

  for (const t of all) {
    await measure(t.url, { ...t.options, seconds: spec.warmupSeconds ?? Math.min(2, seconds) });
  }
  for (let round = 1; round <= rounds; round++) {
    // Alternate the order too: whoever goes first in a round does not always get the cooler CPU.
    const order = round % 2 ? all : [...all].reverse();
    for (const t of order) {
      const m = await measure(t.url, { ...t.options, seconds });
      runs.get(t)!.push(m);
      log(`  round ${round}/${rounds}  ${t.name.padEnd(40)} ${fmt(m.rps)} req/s`);
    }
  }

  const summary = (t: Target) => {
    const ms = runs.get(t)!;
    const rps = ms.map((m) => m.rps);
    const bad = ms.reduce((n, m) => n + m.errors + m.non2xx, 0);
    const spread = (Math.max(...rps) - Math.min(...rps)) / median(rps);
    const notes = [
      `p50 ${median(ms.map((m) => m.p50Ms))} ms, p99 ${median(ms.map((m) => m.p99Ms))} ms`,
      `spread ${(spread * 100).toFixed(0)}%`,
    ];
    if (bad) notes.push(`${bad} errors/non-2xx: MEASUREMENT INVALID`);
    return { value: median(rps), note: notes.join('; ') };
  };

  const base = summary(spec.baseline);
  const baseRuns = runs.get(spec.baseline)!;
  return [
    { name: spec.baseline.name, value: base.value, unit: 'req/s', note: base.note },
    ...spec.candidates.map((t) => {
      const s = summary(t);
      // The median of each round's own ratio: a round the whole machine was slow in cancels out.
      const ratios = runs.get(t)!.map((m, i) => m.rps / baseRuns[i]!.rps);
      return {
        name: t.name,
        value: s.value,
        unit: 'req/s',
        baseline: { name: spec.baseline.name, value: base.value },
        ratio: median(ratios),
        target: t.target,
        note: s.note,
      };
    }),
  ];
}

export interface RunningTarget {
  url: string;
  close(): Promise<void>;
}

/**
 * The baseline: a bare Fastify (no logger, no hooks) answering `GET /healthz` with
 * `{status:'ok'}`; `routes` adds or replaces routes for other comparisons.
 */
export async function startBareFastify(
  routes?: (app: FastifyInstance) => void,
): Promise<RunningTarget & { app: FastifyInstance }> {
  const app = Fastify({ logger: false });
  if (routes) routes(app);
  else app.get('/healthz', async () => ({ status: 'ok' }));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, close: () => app.close() };
}

export interface RunningKeyplane extends RunningTarget {
  services: Services;
  /** The bootstrap admin token (full power): `Authorization: Bearer …` on /admin/v1. */
  adminToken: string;
  adminHeaders: { authorization: string };
}

/**
 * A real Keyplane (`startServer`, as `keyplane serve` runs it) on 127.0.0.1:0 in this process,
 * on a fresh SQLite file in a temp directory, or on PostgreSQL when `databaseUrl` is given.
 * It logs as production does (info, one line per request) into /dev/null, so the cost of
 * logging is measured but the terminal stays readable.
 */
export async function startKeyplane(
  options: { databaseUrl?: string; env?: Record<string, string> } = {},
): Promise<RunningKeyplane & { engine: Engine }> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-'));
  const config = loadConfig(
    {
      KEYPLANE_DATA_DIR: dir,
      KEYPLANE_DATABASE_URL: options.databaseUrl ?? `sqlite:${join(dir, 'keyplane.db')}`,
      KEYPLANE_MASTER_KEY: randomBytes(32).toString('base64'),
      KEYPLANE_HOST: '127.0.0.1',
      KEYPLANE_PORT: '0',
      KEYPLANE_LOG_LEVEL: 'info',
      ...options.env,
    },
    dir,
  );
  const logger = createLogger({
    level: config.logLevel,
    destination: bufferedDestination('/dev/null'),
  });
  let banner = '';
  const server = await startServer(config, logger, { announce: (text) => (banner += text) });
  const adminToken = /^\s+(\S+_\S+)\s*$/m.exec(banner)?.[1] ?? '';
  if (!adminToken) {
    await server.stop();
    throw new Error('bench: no bootstrap admin token (database not fresh?)');
  }
  return {
    url: server.url,
    engine: server.services.store.engine,
    services: server.services,
    adminToken,
    adminHeaders: { authorization: `Bearer ${adminToken}` },
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** The results as an aligned text table (what `npm run bench` prints). */
export function formatTable(results: BenchResult[]): string {
  const rows = [
    ['benchmark', 'value', 'baseline', 'ratio', 'target', 'notes'],
    ...results.map((r) => [
      r.name,
      `${fmt(r.value)} ${r.unit}`,
      r.baseline ? `${r.baseline.name}: ${fmt(r.baseline.value)}` : '',
      r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
      r.target ?? '',
      r.note ?? '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ].join('\n');
}

export const NO_POSTGRES_NOTE =
  'skipped: no PostgreSQL (install postgresql or set KEYPLANE_BENCH_POSTGRES_URL)';

/**
 * Runs `fn` on a fresh PostgreSQL database, dropped afterwards: on the server named by
 * KEYPLANE_BENCH_POSTGRES_URL, else on a throwaway one started from the installed binaries
 * (fsync off, as in the test suite; `throwaway` says so). Null when neither is available.
 */
export async function withBenchPostgres<T>(
  prefix: string,
  fn: (url: string, throwaway: boolean) => Promise<T>,
): Promise<T | null> {
  let url = process.env.KEYPLANE_BENCH_POSTGRES_URL ?? null;
  const server = url ? null : await startPostgres();
  url ??= server?.url ?? null;
  if (!url) return null;
  const name = `${prefix}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  try {
    return await fn(url.replace(/\/[^/]*$/, `/${name}`), server !== null);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await server?.stop();
  }
}

const BENCH_ACTOR = { type: 'system' as const, id: 'bench' };

/** A client with its own Gemini credential in the vault: what the resolve and proxy benches load. */
export async function seedGeminiClient(
  kp: RunningKeyplane,
): Promise<{ clientId: string; apiKey: string }> {
  const { client, apiKey } = await kp.services.clients.create(
    { name: 'Bench', email: 'bench@example.com' },
    BENCH_ACTOR,
  );
  await kp.services.credentials.create(
    client.id,
    {
      provider: 'gemini',
      credentialName: 'bench',
      credentials: { apiKey: `AIza${randomBytes(16).toString('hex')}` },
    },
    BENCH_ACTOR,
  );
  return { clientId: client.id, apiKey };
}

/**
 * The naive design the usage benches compare against: one row per call in a plain table
 * indexed by (client, time), which a hand-written metering script would GROUP BY. Created in
 * the bench's own database next to Keyplane's tables (the name says it is not ours).
 */
export const NAIVE_EVENTS = 'bench_naive_usage_events';

export async function addNaiveEvents(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a table outside Keyplane's schema
  db: Kysely<any>,
  events: readonly UsageEvent[],
): Promise<void> {
  await sql`create table if not exists ${sql.table(NAIVE_EVENTS)} (request_id text primary key, client_id text not null, key_id text not null, endpoint text not null, status integer not null, environment text not null, unit_price_micros bigint not null, cost_micros bigint not null, created_at text not null)`.execute(
    db,
  );
  await sql`create index if not exists bench_naive_client_time on ${sql.table(NAIVE_EVENTS)} (client_id, created_at)`.execute(
    db,
  );
  await sql`create index if not exists bench_naive_time on ${sql.table(NAIVE_EVENTS)} (created_at)`.execute(
    db,
  );
  for (let i = 0; i < events.length; i += 1000) {
    const rows = events
      .slice(i, i + 1000)
      .map(
        (e) =>
          sql`(${e.requestId}, ${e.clientId}, ${e.keyId}, ${e.endpoint}, ${e.status}, ${e.environment}, ${e.unitPriceMicros}, ${e.costMicros}, ${e.createdAt})`,
      );
    await sql`insert into ${sql.table(NAIVE_EVENTS)} values ${sql.join(rows)}`.execute(db);
  }
}
