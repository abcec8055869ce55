import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../store/database.ts';
import { rollupsOf } from './usage-fns.ts';
import type { UsageEvent, UsageEventsTable } from './usage-types.ts';

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

/** Rows per INSERT statement: 11 parameters a row stays far below both engines' limits. */
const CHUNK = 2000;

function dimExpr(timeColumn: 'hour' | 'created_at', d: UsageDim): RawBuilder<unknown> {
  // Times are ISO text, so the UTC day is the first 10 characters on both engines.
  return d === 'day' ? sql`substr(${sql.ref(timeColumn)}, 1, 10)` : sql.ref(COLUMN[d]);
}

export function createUsageStore(db: Kysely<Database>) {
  return {
    /**
     * Writes one batch in one transaction: the raw events (a request id already stored is
     * skipped, never counted twice), then the hourly rollups of exactly the events that were
     * new. Returns how many events were new.
     */
    async insertBatch(events: readonly UsageEvent[]): Promise<number> {
      if (!events.length) return 0;
      return db.transaction().execute(async (tx) => {
        const fresh: UsageEvent[] = [];
        const byId = new Map(events.map((e) => [e.requestId, e]));
        for (let i = 0; i < events.length; i += CHUNK) {
          const rows: UsageEventsTable[] = events.slice(i, i + CHUNK).map((e) => ({
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
          }));
          const inserted = await tx
            .insertInto('usage_events')
            .values(rows)
            .onConflict((oc) => oc.column('request_id').doNothing())
            .returning('request_id')
            .execute();
          for (const r of inserted) fresh.push(byId.get(r.request_id)!);
        }
        const rollups = rollupsOf(fresh);
        for (let i = 0; i < rollups.length; i += CHUNK) {
          await tx
            .insertInto('usage_hourly')
            .values(rollups.slice(i, i + CHUNK))
            .onConflict((oc) =>
              oc
                .columns([
                  'client_id',
                  'hour',
                  'key_id',
                  'endpoint',
                  'status',
                  'environment',
                  'unit_price_micros',
                ])
                .doUpdateSet((eb) => ({
                  calls: eb('usage_hourly.calls', '+', eb.ref('excluded.calls')),
                  cost_micros: eb('usage_hourly.cost_micros', '+', eb.ref('excluded.cost_micros')),
                  duration_us: eb('usage_hourly.duration_us', '+', eb.ref('excluded.duration_us')),
                })),
            )
            .execute();
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
