import { CompiledQuery, sql, type Kysely, type RawBuilder } from 'kysely';
import type SQLite from 'better-sqlite3';
import type { Database } from '../store/database.ts';
import { decodeBlock, encodeBlocks, encodePackedBlocks } from './usage-blocks.ts';
import { dedupe, unpackBatch, type PackedBatch } from './usage-packed.ts';
import { hourOf } from './usage-range.ts';
import type { UsageBatch, UsageEvent, UsageHourlyTable } from './usage-types.ts';

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

  // Statements compiled once (per chunk size), the SQL text is Kysely's for this engine.
  const batchSql = db
    .insertInto('usage_batches')
    .values({ batch_id: '', events: 0, created_at: '' })
    .onConflict((oc) => oc.column('batch_id').doNothing())
    .returning('batch_id')
    .compile().sql;
  const blockSql = db
    .insertInto('usage_blocks')
    .values({
      batch_id: '',
      seq: 0,
      client_id: '',
      hour: '',
      calls: 0,
      cost_micros: 0,
      events: '',
    })
    .compile().sql;
  const requestIdSql = new Map<number, string>();
  const rollupSql = new Map<number, string>();

  function requestIdInsertSql(size: number): string {
    let text = requestIdSql.get(size);
    if (!text) {
      text = db
        .insertInto('usage_request_ids')
        .values(Array.from({ length: size }, (_, i) => ({ request_id: `p${i}`, created_at: '' })))
        .onConflict((oc) => oc.column('request_id').doNothing())
        .returning('request_id')
        .compile().sql;
      requestIdSql.set(size, text);
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

  type Rows = Array<Record<string, unknown>>;
  type Statement = [text: string, params: unknown[]];

  /**
   * One batch's writes as a sequence of statements, each yielded with its parameters and
   * answered with its rows, so that the SQLite writer runs them synchronously inside one
   * better-sqlite3 transaction and PostgreSQL awaits them in a Kysely one. The batch id comes
   * first (a batch already stored is a no-op: its write committed before, say when the answer
   * got lost), then the request ids of external events (one seen before is dropped), then the
   * event blocks and the rollups of exactly the events kept. Returns how many events were new.
   */
  function* batchWrites(input: UsageBatch | PackedBatch): Generator<Statement, number, Rows> {
    const now = new Date().toISOString();
    const size = 'n' in input ? input.n : input.events.length;
    const claimed = yield [batchSql, [input.id, size, now]];
    if (!claimed.length) return 0;
    // Keyplane's own calls arrive packed and have no ids to check: encoded straight from the
    // packed batch, with no object per event.
    if ('n' in input && !input.external.length) {
      yield* blockWrites(encodePackedBlocks(input));
      return input.n;
    }
    const batch = 'n' in input ? unpackBatch(input) : input;
    let events = batch.events;
    // Keyplane's own request ids are unique by construction; reported ones may repeat.
    const external = dedupe(events.filter((e) => e.external));
    if (external.length) {
      const fresh = new Set<string>();
      let at = 0;
      for (const size of chunkSizes(external.length)) {
        const params: unknown[] = [];
        for (const e of external.slice(at, at + size)) params.push(e.requestId, now);
        at += size;
        for (const r of yield [requestIdInsertSql(size), params]) fresh.add(String(r.request_id));
      }
      // A reported id counts once: its first occurrence, and only if not stored before.
      events = events.filter((e) => !e.external || fresh.delete(e.requestId));
    }
    yield* blockWrites(encodeBlocks(batch.id, events));
    return events.length;
  }

  function* blockWrites({
    blocks,
    rollups,
  }: ReturnType<typeof encodeBlocks>): Generator<Statement, void, Rows> {
    for (const b of blocks) {
      yield [blockSql, [b.batch_id, b.seq, b.client_id, b.hour, b.calls, b.cost_micros, b.events]];
    }
    let at = 0;
    for (const size of chunkSizes(rollups.length)) {
      const params = flatten(rollups.slice(at, at + size), ROLLUP_COLUMNS);
      at += size;
      yield [rollupUpsertSql(size), params];
    }
  }

  /** The blocks that may hold events in `[from, to)` (every hour the range touches). */
  function blocksOf(f: UsageFilter) {
    let q = db
      .selectFrom('usage_blocks')
      .select(['client_id', 'hour', 'events'])
      .where('hour', '>=', hourOf(f.from))
      .where('hour', '<', f.to);
    if (f.clientIds) q = q.where('client_id', 'in', f.clientIds);
    return q;
  }

  /** The stored events in `[from, to)` matching the filter: the blocks of its hours, unpacked. */
  async function eventsIn(f: UsageFilter): Promise<UsageEvent[]> {
    if (f.clientIds && !f.clientIds.length) return [];
    const from = Date.parse(f.from);
    const to = Date.parse(f.to);
    const out: UsageEvent[] = [];
    for (const block of await blocksOf(f).execute()) {
      for (const e of decodeBlock(block)) {
        const at = Date.parse(e.createdAt);
        if (at < from || at >= to) continue;
        if (f.keyId && e.keyId !== f.keyId) continue;
        if (f.environment && e.environment !== f.environment) continue;
        out.push(e);
      }
    }
    return out;
  }

  return {
    /**
     * Writes one batch in one transaction (see writeBatch). Returns how many events were new:
     * 0 for a batch stored before, and external events seen before are not counted again.
     */
    async insertBatch(batch: UsageBatch | PackedBatch): Promise<number> {
      if (('n' in batch ? batch.n : batch.events.length) === 0) return 0;
      if (sqlite) {
        return sqlite
          .transaction(() => {
            const steps = batchWrites(batch);
            let step = steps.next();
            while (!step.done) {
              const st = prepare(step.value[0]);
              step = steps.next(
                st.reader ? (st.all(step.value[1]) as Rows) : (st.run(step.value[1]), []),
              );
            }
            return step.value;
          })
          .immediate();
      }
      return db.transaction().execute(async (tx) => {
        const steps = batchWrites(batch);
        let step = steps.next();
        while (!step.done) {
          const res = await tx.executeQuery<Record<string, unknown>>(
            CompiledQuery.raw(step.value[0], step.value[1]),
          );
          step = steps.next(res.rows);
        }
        return step.value;
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

    /**
     * Sums over `[from, to)` from the raw events (for the partial hours at a range's edges):
     * the blocks of the hours it touches, unpacked and filtered event by event.
     */
    async aggregateRaw(f: UsageFilter, by: UsageDim[]): Promise<UsageAggRow[]> {
      const groups = new Map<string, UsageAggRow>();
      for (const e of await eventsIn(f)) {
        const dims = by.map((d) => dimOf(e, d));
        const k = dims.join('\u0000');
        let g = groups.get(k);
        if (!g) {
          g = { calls: 0, costMicros: 0 };
          by.forEach((d, i) => (g![d] = dims[i]));
          groups.set(k, g);
        }
        g.calls++;
        g.costMicros += e.costMicros;
      }
      return [...groups.values()];
    },

    /**
     * The stored events of `[from, to)`, oldest hour first (an export, and how tests check the
     * rollups against the record of every call).
     */
    async listEvents(f: UsageFilter): Promise<UsageEvent[]> {
      const out = await eventsIn(f);
      return out.sort((a, b) =>
        a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0,
      );
    },

    /** Exact counts straight from the stored events (tests and audits of the rollups). */
    async countEvents(clientId?: string): Promise<{ calls: number; costMicros: number }> {
      let q = db
        .selectFrom('usage_blocks')
        .select((eb) => [
          eb.fn.sum<number>('calls').as('calls'),
          eb.fn.sum<number>('cost_micros').as('costMicros'),
        ]);
      if (clientId) q = q.where('client_id', '=', clientId);
      const r = await q.executeTakeFirstOrThrow();
      return { calls: Number(r.calls ?? 0), costMicros: Number(r.costMicros ?? 0) };
    },
  };
}

function dimOf(e: UsageEvent, d: UsageDim): string | number {
  switch (d) {
    case 'client':
      return e.clientId;
    case 'key':
      return e.keyId;
    case 'endpoint':
      return e.endpoint;
    case 'status':
      return e.status;
    case 'environment':
      return e.environment;
    case 'unitPrice':
      return e.unitPriceMicros;
    case 'day':
      return e.createdAt.slice(0, 10);
  }
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
