import { CompiledQuery, type Kysely } from 'kysely';
import type SQLite from 'better-sqlite3';
import type { Database } from '../store/database.ts';
import { encodeBlocks, encodePackedBlocks } from './usage-blocks.ts';
import { dedupe, unpackBatch, type PackedBatch } from './usage-packed.ts';
import type { UsageBatch, UsageHourlyTable } from './usage-types.ts';

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
export function chunkSizes(n: number): number[] {
  const out: number[] = [];
  while (n > 0) {
    let size = MAX_CHUNK;
    while (size > n) size >>= 1;
    out.push(size);
    n -= size;
  }
  return out;
}

/** Row-major parameters in column order: exactly how Kysely numbers a multi-row VALUES list. */
function flatten<T extends object>(rows: T[], columns: ReadonlyArray<keyof T>): unknown[] {
  const out: unknown[] = new Array(rows.length * columns.length);
  let k = 0;
  for (const r of rows) for (const c of columns) out[k++] = r[c];
  return out;
}

type Rows = Array<Record<string, unknown>>;
type Statement = [text: string, params: unknown[]];

/** The write side's connection and its statements, compiled once (per chunk size). */
interface Writes {
  db: Kysely<Database>;
  sqlite: SQLite.Database | null;
  prepared: Map<string, SQLite.Statement>;
  batchSql: string;
  blockSql: string;
  requestIdSql: Map<number, string>;
  rollupSql: Map<number, string>;
}

function prepare(w: Writes, text: string): SQLite.Statement {
  let st = w.prepared.get(text);
  if (!st) {
    st = w.sqlite!.prepare(text);
    w.prepared.set(text, st);
  }
  return st;
}

function requestIdInsertSql(w: Writes, size: number): string {
  let text = w.requestIdSql.get(size);
  if (!text) {
    text = w.db
      .insertInto('usage_request_ids')
      .values(Array.from({ length: size }, (_, i) => ({ request_id: `p${i}`, created_at: '' })))
      .onConflict((oc) => oc.column('request_id').doNothing())
      .returning('request_id')
      .compile().sql;
    w.requestIdSql.set(size, text);
  }
  return text;
}

function rollupUpsertSql(w: Writes, size: number): string {
  let text = w.rollupSql.get(size);
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
    text = w.db
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
    w.rollupSql.set(size, text);
  }
  return text;
}

/**
 * One batch's writes as a sequence of statements, each yielded with its parameters and
 * answered with its rows, so that the SQLite writer runs them synchronously inside one
 * better-sqlite3 transaction and PostgreSQL awaits them in a Kysely one. The batch id comes
 * first (a batch already stored is a no-op: its write committed before, say when the answer
 * got lost), then the request ids of external events (one seen before is dropped), then the
 * event blocks and the rollups of exactly the events kept. Returns how many events were new.
 */
function* batchWrites(
  w: Writes,
  input: UsageBatch | PackedBatch,
): Generator<Statement, number, Rows> {
  const now = new Date().toISOString();
  const size = 'n' in input ? input.n : input.events.length;
  const claimed = yield [w.batchSql, [input.id, size, now]];
  if (!claimed.length) return 0;
  // Other modules' writes accounting for these calls (budgets' holds), once with the batch.
  if ('also' in input && input.also) for (const st of input.also) yield st;
  // Keyplane's own calls arrive packed and have no ids to check: encoded straight from the
  // packed batch, with no object per event.
  if ('n' in input && !input.external.length) {
    yield* blockWrites(w, encodePackedBlocks(input));
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
      for (const r of yield [requestIdInsertSql(w, size), params]) fresh.add(String(r.request_id));
    }
    // A reported id counts once: its first occurrence, and only if not stored before.
    events = events.filter((e) => !e.external || fresh.delete(e.requestId));
  }
  yield* blockWrites(w, encodeBlocks(batch.id, events));
  return events.length;
}

function* blockWrites(
  w: Writes,
  { blocks, rollups }: ReturnType<typeof encodeBlocks>,
): Generator<Statement, void, Rows> {
  for (const b of blocks) {
    yield [w.blockSql, [b.batch_id, b.seq, b.client_id, b.hour, b.calls, b.cost_micros, b.events]];
  }
  let at = 0;
  for (const size of chunkSizes(rollups.length)) {
    const params = flatten(rollups.slice(at, at + size), ROLLUP_COLUMNS);
    at += size;
    yield [rollupUpsertSql(w, size), params];
  }
}

/** Runs a batch's statements in one synchronous SQLite transaction (the writer thread). */
function insertOnSqlite(w: Writes, batch: UsageBatch | PackedBatch): number {
  return w
    .sqlite!.transaction(() => {
      const steps = batchWrites(w, batch);
      let step = steps.next();
      while (!step.done) {
        const st = prepare(w, step.value[0]);
        step = steps.next(
          st.reader ? (st.all(step.value[1]) as Rows) : (st.run(step.value[1]), []),
        );
      }
      return step.value;
    })
    .immediate();
}

/** Runs a batch's statements in one Kysely transaction. */
function insertOnKysely(w: Writes, batch: UsageBatch | PackedBatch): Promise<number> {
  return w.db.transaction().execute(async (tx) => {
    const steps = batchWrites(w, batch);
    let step = steps.next();
    while (!step.done) {
      const res = await tx.executeQuery<Record<string, unknown>>(
        CompiledQuery.raw(step.value[0], step.value[1]),
      );
      step = steps.next(res.rows);
    }
    return step.value;
  });
}

/**
 * The usage store's write side. With `sqlite` (the raw handle, on the writer thread) batches
 * run as cached prepared statements in one synchronous transaction (same SQL text, compiled by
 * Kysely), skipping a re-parse of a 1024-row statement per batch.
 */
export function createUsageWrites(db: Kysely<Database>, sqlite?: SQLite.Database | null) {
  const w: Writes = {
    db,
    sqlite: sqlite ?? null,
    prepared: new Map(),
    batchSql: db
      .insertInto('usage_batches')
      .values({ batch_id: '', events: 0, created_at: '' })
      .onConflict((oc) => oc.column('batch_id').doNothing())
      .returning('batch_id')
      .compile().sql,
    blockSql: db
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
      .compile().sql,
    requestIdSql: new Map(),
    rollupSql: new Map(),
  };
  return {
    /**
     * Writes one batch in one transaction (see batchWrites). Returns how many events were new:
     * 0 for a batch stored before, and external events seen before are not counted again.
     */
    async insertBatch(batch: UsageBatch | PackedBatch): Promise<number> {
      if (('n' in batch ? batch.n : batch.events.length) === 0) return 0;
      return w.sqlite ? insertOnSqlite(w, batch) : insertOnKysely(w, batch);
    },
  };
}
