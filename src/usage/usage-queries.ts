import { AppError } from '../lib/errors.ts';
import { formatMicros } from '../lib/money.ts';
import { readPage, type Page } from '../lib/page.ts';
import { splitRange } from './usage-range.ts';
import type { UsageAggRow, UsageDim, UsageFilter, UsageStore } from './usage-store.ts';
import type { EventPosition } from './usage-store-read.ts';
import type {
  BillingLine,
  KeyUsage,
  UsageEvent,
  UsageGroupBy,
  UsageSummary,
} from './usage-types.ts';

/** What the queries read: the store, and the currency their answers are in. */
export interface UsageQueriesContext {
  usageStore: UsageStore;
  currency: string;
}

/** `[from, to)` sums, exact: whole hours from the rollups, the partial edges from raw events. */
async function aggregate(
  ctx: UsageQueriesContext,
  filter: UsageFilter,
  by: UsageDim[],
): Promise<UsageAggRow[]> {
  const { usageStore } = ctx;
  const parts = splitRange(new Date(filter.from), new Date(filter.to));
  const results = await Promise.all([
    ...(parts.rollup ? [usageStore.aggregateRollups({ ...filter, ...parts.rollup }, by)] : []),
    ...parts.raw.map((r) => usageStore.aggregateRaw({ ...filter, ...r }, by)),
  ]);
  if (results.length === 1) return results[0]!;
  const merged = new Map<string, UsageAggRow>();
  for (const row of results.flat()) {
    const k = by.map((d) => String(row[d])).join('\u0000');
    const m = merged.get(k);
    if (m) {
      m.calls += row.calls;
      m.costMicros += row.costMicros;
    } else merged.set(k, { ...row });
  }
  return [...merged.values()];
}

function checkRange(from: string, to: string) {
  const f = new Date(from).getTime();
  const t = new Date(to).getTime();
  if (Number.isNaN(f) || Number.isNaN(t)) throw new AppError('bad_request', 'invalid from/to');
  if (t < f) throw new AppError('bad_request', '"to" must not be before "from"');
}

const GROUP_DIM: Record<UsageGroupBy, UsageDim> = {
  day: 'day',
  endpoint: 'endpoint',
  key: 'key',
  client: 'client',
};

export interface SummaryQuery {
  clientIds?: string[];
  from: string;
  to: string;
  groupBy: UsageGroupBy;
  environment?: 'live' | 'test';
}

export interface KeyUsageQuery {
  clientId: string;
  keyId: string;
  from: string;
  to: string;
  lastUsedAt: string | null;
}

export interface BillingLinesQuery {
  from: string;
  to: string;
  clientIds?: string[];
}

/** `GET /v1/usage` and its admin twin: calls and cost in `[from, to)`, grouped. */
async function summary(ctx: UsageQueriesContext, q: SummaryQuery): Promise<UsageSummary> {
  checkRange(q.from, q.to);
  const dim = GROUP_DIM[q.groupBy];
  const rows = await aggregate(
    ctx,
    { from: q.from, to: q.to, clientIds: q.clientIds, environment: q.environment },
    [dim, 'environment'],
  );
  const groups = new Map<string, { calls: number; testCalls: number; costMicros: number }>();
  for (const r of rows) {
    const g = String(r[dim]);
    const acc = groups.get(g) ?? { calls: 0, testCalls: 0, costMicros: 0 };
    acc.calls += r.calls;
    if (r.environment === 'test') acc.testCalls += r.calls;
    acc.costMicros += r.costMicros;
    groups.set(g, acc);
  }
  const list = [...groups.entries()].map(([group, v]) => ({
    group,
    ...v,
    cost: formatMicros(v.costMicros),
  }));
  list.sort((a, b) =>
    q.groupBy === 'day'
      ? a.group.localeCompare(b.group)
      : b.costMicros - a.costMicros || b.calls - a.calls || a.group.localeCompare(b.group),
  );
  const totals = list.reduce(
    (t, g) => ({
      calls: t.calls + g.calls,
      testCalls: t.testCalls + g.testCalls,
      costMicros: t.costMicros + g.costMicros,
    }),
    { calls: 0, testCalls: 0, costMicros: 0 },
  );
  return {
    from: q.from,
    to: q.to,
    currency: ctx.currency,
    totals: { ...totals, cost: formatMicros(totals.costMicros) },
    groups: list,
  };
}

/** Per-key statistics: calls by endpoint and by status code. */
async function keyUsage(ctx: UsageQueriesContext, q: KeyUsageQuery): Promise<KeyUsage> {
  checkRange(q.from, q.to);
  const rows = await aggregate(
    ctx,
    { from: q.from, to: q.to, clientIds: [q.clientId], keyId: q.keyId },
    ['endpoint', 'status'],
  );
  const endpoints = new Map<string, { calls: number; costMicros: number }>();
  const statusCodes: Record<string, number> = {};
  let calls = 0;
  let costMicros = 0;
  for (const r of rows) {
    const e = endpoints.get(String(r.endpoint)) ?? { calls: 0, costMicros: 0 };
    e.calls += r.calls;
    e.costMicros += r.costMicros;
    endpoints.set(String(r.endpoint), e);
    statusCodes[String(r.status)] = (statusCodes[String(r.status)] ?? 0) + r.calls;
    calls += r.calls;
    costMicros += r.costMicros;
  }
  return {
    keyId: q.keyId,
    from: q.from,
    to: q.to,
    currency: ctx.currency,
    calls,
    costMicros,
    cost: formatMicros(costMicros),
    lastUsedAt: q.lastUsedAt,
    endpoints: [...endpoints.entries()]
      .map(([endpoint, v]) => ({ endpoint, ...v, cost: formatMicros(v.costMicros) }))
      .sort((a, b) => b.calls - a.calls || a.endpoint.localeCompare(b.endpoint)),
    statusCodes,
  };
}

/**
 * Live usage in `[from, to)` per client, endpoint and unit price, for invoices. Read from the
 * rollups (whole hours) plus raw events for partial edge hours, so it stays fast at millions
 * of events.
 */
async function billingLines(
  ctx: UsageQueriesContext,
  q: BillingLinesQuery,
): Promise<BillingLine[]> {
  checkRange(q.from, q.to);
  const rows = await aggregate(
    ctx,
    { from: q.from, to: q.to, clientIds: q.clientIds, environment: 'live' },
    ['client', 'endpoint', 'unitPrice'],
  );
  return rows
    .map((r) => ({
      clientId: String(r.client),
      endpoint: String(r.endpoint),
      unitPriceMicros: Number(r.unitPrice),
      calls: r.calls,
      amountMicros: r.costMicros,
    }))
    .sort(
      (a, b) =>
        a.clientId.localeCompare(b.clientId) ||
        a.endpoint.localeCompare(b.endpoint) ||
        a.unitPriceMicros - b.unitPriceMicros,
    );
}

export interface EventsQuery {
  clientId: string;
  from: string;
  to: string;
  keyId?: string;
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One stored call, as a row. */
export type UsageEventRow = Omit<UsageEvent, 'external'>;

const formatCursor = (p: EventPosition) =>
  Buffer.from(JSON.stringify([p.hour, p.batchId, p.seq, p.index])).toString('base64url');

function parseCursor(cursor: string): EventPosition {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    v = null;
  }
  const [hour, batchId, seq, index] = Array.isArray(v) ? (v as unknown[]) : [];
  if (
    typeof hour !== 'string' ||
    typeof batchId !== 'string' ||
    !Number.isInteger(seq) ||
    !Number.isInteger(index)
  )
    throw new AppError('validation_failed', 'cursor must be a nextCursor value');
  return { hour, batchId, seq: seq as number, index: index as number };
}

/**
 * One client's stored calls in `[from, to)`, one row each, a page at a time: in hour order,
 * and within an hour in the order they were written.
 */
async function events(ctx: UsageQueriesContext, q: EventsQuery): Promise<Page<UsageEventRow>> {
  checkRange(q.from, q.to);
  const after = q.cursor ? parseCursor(q.cursor) : undefined;
  const cursors = new Map<UsageEventRow, string>();
  return readPage(
    { limit: q.limit },
    (limit) =>
      ctx.usageStore.eventRows({
        clientId: q.clientId,
        from: q.from,
        to: q.to,
        keyId: q.keyId,
        after,
        limit,
      }),
    (rows) =>
      rows.map(({ event, position }) => {
        const { external: _, ...row } = event;
        cursors.set(row, formatCursor(position));
        return row;
      }),
    (row) => cursors.get(row)!,
  );
}

/** Metering's read side: summaries, per-key statistics, billing lines and the events as rows. */
export function createUsageQueries(ctx: UsageQueriesContext) {
  return {
    summary: (q: SummaryQuery) => summary(ctx, q),
    keyUsage: (q: KeyUsageQuery) => keyUsage(ctx, q),
    billingLines: (q: BillingLinesQuery) => billingLines(ctx, q),
    events: (q: EventsQuery) => events(ctx, q),
  };
}
