import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../store/database.ts';
import { decodeBlock } from './usage-blocks.ts';
import { hourOf } from './usage-range.ts';
import type { UsageAggRow, UsageDim, UsageFilter } from './usage-store.ts';
import type { UsageEvent } from './usage-types.ts';

/** Where a stored event sits: its block and its index in it. Events are listed in this order. */
export interface EventPosition {
  hour: string;
  batchId: string;
  seq: number;
  index: number;
}

export interface EventRowsFilter {
  clientId: string;
  /** Inclusive ISO bound. */
  from: string;
  /** Exclusive ISO bound. */
  to: string;
  keyId?: string;
  /** List the events after this one. */
  after?: EventPosition;
  limit: number;
}

/** Blocks read per query while listing events. */
const BLOCKS_PER_READ = 20;

const COLUMN: Record<Exclude<UsageDim, 'day'>, string> = {
  client: 'client_id',
  key: 'key_id',
  endpoint: 'endpoint',
  status: 'status',
  environment: 'environment',
  unitPrice: 'unit_price_micros',
};

function dimExpr(timeColumn: 'hour' | 'created_at', d: UsageDim): RawBuilder<unknown> {
  // Times are ISO text, so the UTC day is the first 10 characters on both engines.
  return d === 'day' ? sql`substr(${sql.ref(timeColumn)}, 1, 10)` : sql.ref(COLUMN[d]);
}

/** The blocks that may hold events in `[from, to)` (every hour the range touches). */
function blocksOf(db: Kysely<Database>, f: UsageFilter) {
  let q = db
    .selectFrom('usage_blocks')
    .select(['client_id', 'hour', 'events'])
    .where('hour', '>=', hourOf(f.from))
    .where('hour', '<', f.to);
  if (f.clientIds) q = q.where('client_id', 'in', f.clientIds);
  return q;
}

/** The stored events in `[from, to)` matching the filter: the blocks of its hours, unpacked. */
async function eventsIn(db: Kysely<Database>, f: UsageFilter): Promise<UsageEvent[]> {
  if (f.clientIds && !f.clientIds.length) return [];
  const from = Date.parse(f.from);
  const to = Date.parse(f.to);
  const out: UsageEvent[] = [];
  for (const block of await blocksOf(db, f).execute()) {
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

/** One client's blocks from `after`'s on, in (hour, batch, seq) order. */
function blocksFrom(db: Kysely<Database>, f: EventRowsFilter, after: EventPosition | undefined) {
  let q = db
    .selectFrom('usage_blocks')
    .select(['batch_id', 'seq', 'client_id', 'hour', 'events'])
    .where('client_id', '=', f.clientId)
    .where('hour', '>=', hourOf(f.from))
    .where('hour', '<', f.to);
  if (after) {
    const { hour, batchId, seq } = after;
    q = q.where((eb) =>
      eb.or([
        eb('hour', '>', hour),
        eb.and([eb('hour', '=', hour), eb('batch_id', '>', batchId)]),
        eb.and([eb('hour', '=', hour), eb('batch_id', '=', batchId), eb('seq', '>=', seq)]),
      ]),
    );
  }
  return q.orderBy('hour').orderBy('batch_id').orderBy('seq').limit(BLOCKS_PER_READ);
}

/**
 * Up to `limit` stored events of one client in `[from, to)` after `f.after`, as rows, each with
 * its position (the keyset of the next page).
 */
async function eventRows(
  db: Kysely<Database>,
  f: EventRowsFilter,
): Promise<Array<{ event: UsageEvent; position: EventPosition }>> {
  const from = Date.parse(f.from);
  const to = Date.parse(f.to);
  const out: Array<{ event: UsageEvent; position: EventPosition }> = [];
  let after = f.after;
  for (;;) {
    const blocks = await blocksFrom(db, f, after).execute();
    for (const block of blocks) {
      const at = { hour: block.hour, batchId: block.batch_id, seq: Number(block.seq) };
      const same = f.after && samePlace(f.after, at);
      for (const [index, event] of decodeBlock(block).entries()) {
        if (same && index <= f.after!.index) continue;
        const ms = Date.parse(event.createdAt);
        if (ms < from || ms >= to || (f.keyId && event.keyId !== f.keyId)) continue;
        out.push({ event, position: { ...at, index } });
        if (out.length === f.limit) return out;
      }
    }
    if (blocks.length < BLOCKS_PER_READ) return out;
    const last = blocks[blocks.length - 1]!;
    // The next read starts after the last block read.
    after = { hour: last.hour, batchId: last.batch_id, seq: Number(last.seq) + 1, index: -1 };
  }
}

const samePlace = (a: Omit<EventPosition, 'index'>, b: Omit<EventPosition, 'index'>) =>
  a.hour === b.hour && a.batchId === b.batchId && a.seq === b.seq;

/** The usage store's read side: rollups, and the raw events of the blocks. */
export function createUsageReads(db: Kysely<Database>) {
  return {
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
      for (const e of await eventsIn(db, f)) {
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
      const out = await eventsIn(db, f);
      return out.sort((a, b) =>
        a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0,
      );
    },

    /**
     * One client's stored events in `[from, to)` as rows, in stored order (hour, then the
     * order they were written), `limit` at most, after `after`: the plain query path.
     */
    eventRows: (f: EventRowsFilter) => eventRows(db, f),

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
