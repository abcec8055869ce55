import { CompiledQuery, sql, type Kysely, type RawBuilder } from 'kysely';
import type SQLite from 'better-sqlite3';
import type { Database } from '../store/database.ts';
import { rollupsOf } from './usage-fns.ts';
import type { UsageEvent, UsageEventsTable, UsageHourlyTable } from './usage-types.ts';

/** What an aggregate can be grouped by. */
export type UsageDim =
  'client' | 'key' | 'endpoint' | 'status' | 'environment' | 'unitPrice' | 'day';

export interface UsageFilter {
  /** Inclusive ISO bound. */
  from: string;
  /** Exclusive ISO bound. */
  to: string;
  /** Required for client-facing queries; omitted only by admin/billing reads across clients. */
  clientIds?: string[];
  keyId?: string;
  environment?: 'live' | 'test';
}

export type UsageAggRow = Partial<Record<UsageDim, string | number>> & {
  calls: number;
  costMicros: number;
};

const COLUMN: Record<Exclude<UsageDim, 'day'>, string> = {
  client: 'client_id',
  key: 'key_id',
  endpoint: 'endpoint',
  status: 'status',
  environment: 'environment',
  unitPrice: 'unit_price_micros',
};

/**
 * Rows per INSERT statement, as powers of two (1024, 512, … 1): a batch of any size is written
 * with at most 11 distinct statements, each compiled by Kysely once and then reused with new
 * parameters. Compiling a 1000-row insert costs as much as executing it, so this halves the
 * flush cost; 11 parameters a row stays far below both engines' limits.
 */
const MAX_CHUNK = 1024;

const EVENT_COLUMNS = [
  'request_id',
  'client_id',
  'key_id',
  'endpoint',
  'method',
  'status',
  'environment',
  'unit_price_micros',
  'cost_micros',
  'duration_us',
  'created_at',
] as const satisfies ReadonlyArray<keyof UsageEventsTable>;

const ROLLUP_COLUMNS = [
  'client_id',
  'hour',
  'key_id',
  'endpoint',
  'status',
  'environment',
  'unit_price_micros',
  'calls',
  'cost_micros',
  'duration_us',
] as const satisfies ReadonlyArray<keyof UsageHourlyTable>;

const ROLLUP_KEY = ROLLUP_COLUMNS.slice(0, 7) as Array<(typeof ROLLUP_COLUMNS)[number]>;

/** Splits n into descending powers of two no larger than MAX_CHUNK. */
function chunkSizes(n: number): number[] {
  const out: number[] = [];
  while (n > 0) {
    let size = MAX_CHUNK;
    while (size > n) size >>= 1;
    out.push(size);
    n -= size;
  }
  return out;
}

function eventRow(e: UsageEvent): UsageEventsTable {
  return {
    request_id: e.requestId,
    client_id: e.clientId,
    key_id: e.keyId,
    endpoint: e.endpoint,
    method: e.method,
    status: e.status,
    environment: e.environment,
    unit_price_micros: e.unitPriceMicros,
    cost_micros: e.costMicros,
    duration_us: e.durationUs,
    created_at: e.createdAt,
  };
}

function dimExpr(timeColumn: 'hour' | 'created_at', d: UsageDim): RawBuilder<unknown> {
  // Times are ISO text, so the UTC day is the first 10 characters on both engines.
  return d === 'day' ? sql`substr(${sql.ref(timeColumn)}, 1, 10)` : sql.ref(COLUMN[d]);
}

export function createUsageStore(
  db: Kysely<Database>,
  /**
   * The raw SQLite handle, when this store runs on the writer thread: batches then run as
   * cached prepared statements in one synchronous transaction (same SQL text, compiled by
   * Kysely), skipping a re-parse of a 1024-row statement per batch.
   */
  sqlite?: SQLite.Database | null,
) {
  const prepared = new Map<string, SQLite.Statement>();
  const prepare = (text: string) => {
    let st = prepared.get(text);
    if (!st) {
      st = sqlite!.prepare(text);
      prepared.set(text, st);
    }
    return st;
  };

  // Statements compiled once per chunk size (the SQL text is Kysely's, for this engine).
  const eventSql = new Map<number, string>();
  const rollupSql = new Map<number, string>();
  const placeholderEvent = (i: number): UsageEventsTable =>
    eventRow({
      requestId: `p${i}`,
      clientId: '',
      keyId: '',
      endpoint: '',
      method: '',
      status: 0,
      environment: 'live',
      unitPriceMicros: 0,
      costMicros: 0,
      durationUs: 0,
      createdAt: '',
    });

  function eventInsertSql(size: number): string {
    let text = eventSql.get(size);
    if (!text) {
      text = db
        .insertInto('usage_events')
        .values(Array.from({ length: size }, (_, i) => placeholderEvent(i)))
        .onConflict((oc) => oc.column('request_id').doNothing())
        .returning('request_id')
        .compile().sql;
      eventSql.set(size, text);
    }
    return text;
  }

  function rollupUpsertSql(size: number): string {
    let text = rollupSql.get(size);
    if (!text) {
      const row = (i: number): UsageHourlyTable => ({
        client_id: `p${i}`,
        hour: '',
        key_id: '',
        endpoint: '',
        status: 0,
        environment: 'live',
        unit_price_micros: 0,
        calls: 0,
        cost_micros: 0,
        duration_us: 0,
      });
      text = db
        .insertInto('usage_hourly')
        .values(Array.from({ length: size }, (_, i) => row(i)))
        .onConflict((oc) =>
          oc.columns(ROLLUP_KEY).doUpdateSet((eb) => ({
            calls: eb('usage_hourly.calls', '+', eb.ref('excluded.calls')),
            cost_micros: eb('usage_hourly.cost_micros', '+', eb.ref('excluded.cost_micros')),
            duration_us: eb('usage_hourly.duration_us', '+', eb.ref('excluded.duration_us')),
          })),
        )
        .compile().sql;
      rollupSql.set(size, text);
    }
    return text;
  }

  return {
    /**
     * Writes one batch in one transaction: the raw events (a request id already stored is
     * skipped, never counted twice), then the hourly rollups of exactly the events that were
     * new. Returns how many events were new.
     */
    async insertBatch(events: readonly UsageEvent[]): Promise<number> {
      if (!events.length) return 0;
      if (sqlite) {
        return sqlite.transaction(() => {
          const byId = new Map(events.map((e) => [e.requestId, e]));
          const fresh: UsageEvent[] = [];
          let at = 0;
          for (const size of chunkSizes(events.length)) {
            const params = flatten(events.slice(at, at + size).map(eventRow), EVENT_COLUMNS);
            at += size;
            const rows = prepare(eventInsertSql(size)).all(params) as Array<{ request_id: string }>;
            for (const r of rows) fresh.push(byId.get(r.request_id)!);
          }
          const rollups = rollupsOf(fresh);
          at = 0;
          for (const size of chunkSizes(rollups.length)) {
            const params = flatten(rollups.slice(at, at + size), ROLLUP_COLUMNS);
            at += size;
            prepare(rollupUpsertSql(size)).run(params);
          }
          return fresh.length;
        })();
      }
      return db.transaction().execute(async (tx) => {
        const fresh: UsageEvent[] = [];
        const byId = new Map(events.map((e) => [e.requestId, e]));
        let at = 0;
        for (const size of chunkSizes(events.length)) {
          const params = flatten(events.slice(at, at + size).map(eventRow), EVENT_COLUMNS);
          at += size;
          const sqlText = eventInsertSql(size);
          const res = await tx.executeQuery<{ request_id: string }>(
            CompiledQuery.raw(sqlText, params),
          );
          for (const r of res.rows) fresh.push(byId.get(r.request_id)!);
        }
        const rollups = rollupsOf(fresh);
        at = 0;
        for (const size of chunkSizes(rollups.length)) {
          const params = flatten(rollups.slice(at, at + size), ROLLUP_COLUMNS);
          at += size;
          await tx.executeQuery(CompiledQuery.raw(rollupUpsertSql(size), params));
        }
        return fresh.length;
      });
    },

    /** Sums over whole hours `[from, to)` from the rollups. Bounds must be hour-aligned. */
    async aggregateRollups(f: UsageFilter, by: UsageDim[]): Promise<UsageAggRow[]> {
      if (f.clientIds && !f.clientIds.length) return [];
      let q = db
        .selectFrom('usage_hourly')
        .select((eb) => [
          ...by.map((d) => dimExpr('hour', d).as(d)),
          eb.fn.sum<number>('calls').as('calls'),
          eb.fn.sum<number>('cost_micros').as('costMicros'),
        ])
        .where('hour', '>=', f.from)
        .where('hour', '<', f.to);
      if (f.clientIds) q = q.where('client_id', 'in', f.clientIds);
      if (f.keyId) q = q.where('key_id', '=', f.keyId);
      if (f.environment) q = q.where('environment', '=', f.environment);
      if (by.length) q = q.groupBy(by.map((d) => dimExpr('hour', d)));
      return normalize(await q.execute());
    },

    /** Sums over `[from, to)` from the raw events (for the partial hours at a range's edges). */
    async aggregateRaw(f: UsageFilter, by: UsageDim[]): Promise<UsageAggRow[]> {
      if (f.clientIds && !f.clientIds.length) return [];
      let q = db
        .selectFrom('usage_events')
        .select((eb) => [
          ...by.map((d) => dimExpr('created_at', d).as(d)),
          eb.fn.countAll<number>().as('calls'),
          eb.fn.sum<number>('cost_micros').as('costMicros'),
        ])
        .where('created_at', '>=', f.from)
        .where('created_at', '<', f.to);
      if (f.clientIds) q = q.where('client_id', 'in', f.clientIds);
      if (f.keyId) q = q.where('key_id', '=', f.keyId);
      if (f.environment) q = q.where('environment', '=', f.environment);
      if (by.length) q = q.groupBy(by.map((d) => dimExpr('created_at', d)));
      return normalize(await q.execute());
    },

    /** Exact counts straight from the raw table (tests and audits of the rollups). */
    async countEvents(clientId?: string): Promise<{ calls: number; costMicros: number }> {
      let q = db
        .selectFrom('usage_events')
        .select((eb) => [
          eb.fn.countAll<number>().as('calls'),
          eb.fn.sum<number>('cost_micros').as('costMicros'),
        ]);
      if (clientId) q = q.where('client_id', '=', clientId);
      const r = await q.executeTakeFirstOrThrow();
      return { calls: Number(r.calls), costMicros: Number(r.costMicros ?? 0) };
    },
  };
}

/** Row-major parameters in column order: exactly how Kysely numbers a multi-row VALUES list. */
function flatten<T extends object>(rows: T[], columns: ReadonlyArray<keyof T>): unknown[] {
  const out: unknown[] = new Array(rows.length * columns.length);
  let k = 0;
  for (const r of rows) for (const c of columns) out[k++] = r[c];
  return out;
}

function normalize(rows: Array<Record<string, unknown>>): UsageAggRow[] {
  return rows.map((r) => {
    const out: Record<string, unknown> = { ...r };
    out.calls = Number(r.calls ?? 0);
    out.costMicros = Number(r.costMicros ?? 0);
    if (r.status !== undefined) out.status = Number(r.status);
    if (r.unitPrice !== undefined) out.unitPrice = Number(r.unitPrice);
    return out as UsageAggRow;
  });
}

export type UsageStore = ReturnType<typeof createUsageStore>;
