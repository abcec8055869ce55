import type { Registry } from 'prom-client';
import type { Logger } from '../infra/logger.ts';
import { backoffMs } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { formatMicros } from '../lib/money.ts';
import { newId } from '../lib/ids.ts';
import { createBatchBuilder, dropOldest, type PackedBatch } from './usage-packed.ts';
import type { PriceBook } from './usage-price-book.ts';
import { splitRange } from './usage-range.ts';
import { createUsageMetrics } from './usage-metrics.ts';
import type { UsageAggRow, UsageDim, UsageFilter, UsageStore } from './usage-store.ts';
import type { UsageWriter } from './usage-writer.ts';
import type { BillingLine, KeyUsage, UsageGroupBy, UsageSummary } from './usage-types.ts';

export interface UsageServiceDeps {
  usageStore: UsageStore;
  /** Writes batches elsewhere (the SQLite writer thread); default: `usageStore.insertBatch`. */
  writer?: UsageWriter;
  priceBook: PriceBook;
  currency: string;
  clock: Clock;
  logger: Logger;
  /** Where the metering metrics (queue depth, flush time, …) are registered. */
  registry?: Registry;
  /** Bounded delay between a call and its flush (default 250 ms). */
  flushIntervalMs?: number;
  /** Events per flush transaction (default 5000); a full batch flushes at once. */
  maxBatch?: number;
  /** Events held while storage fails before the oldest are dropped (default 500 000). */
  maxQueue?: number;
}

/** A finished authenticated call, as the HTTP face reports it. */
export interface CallRecord {
  requestId: string;
  clientId: string;
  keyId: string;
  endpoint: string;
  method: string;
  status: number;
  environment: KeyEnvironment;
  durationMs: number;
  /** When the call happened (default: now). */
  at?: Date;
  /** Reported from outside Keyplane (the ingest route): a repeated request id is skipped. */
  external?: boolean;
  /** Already priced elsewhere (imported history at its recorded cost), instead of the price book. */
  priceMicros?: number;
}

export function createUsageService(deps: UsageServiceDeps) {
  const { usageStore, priceBook, currency, clock, logger } = deps;
  const flushIntervalMs = deps.flushIntervalMs ?? 250;
  const maxBatch = deps.maxBatch ?? 5000;
  const maxQueue = deps.maxQueue ?? 500_000;

  /** Calls since the last sealed batch, packed (no object kept per call). */
  const builder = createBatchBuilder();
  /** Full batches waiting for the writer, oldest first. */
  const sealed: PackedBatch[] = [];
  let sealedEvents = 0;
  /** Events of the batch being written right now: still pending until it commits. */
  let inFlight = 0;
  /**
   * A batch whose write failed. It is written again exactly as it was (same id, same events)
   * before anything newer, so that if the failed write did commit, the retry is a no-op.
   */
  let retry: PackedBatch | null = null;
  const depth = () => builder.size + sealedEvents + inFlight + (retry?.n ?? 0);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let failures = 0;
  let closed = false;
  const metrics = deps.registry ? createUsageMetrics(deps.registry, depth) : null;

  function schedule(delay: number) {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void flush();
    }, delay);
    timer.unref();
  }

  function seal() {
    const batch = builder.seal(newId('usage'));
    if (batch) {
      sealed.push(batch);
      sealedEvents += batch.n;
    }
  }

  async function writeBatch(batch: PackedBatch) {
    const end = metrics?.flushSeconds.startTimer();
    const fresh = deps.writer
      ? await deps.writer.insertBatch(batch)
      : await usageStore.insertBatch(batch);
    end?.();
    metrics?.flushes.inc({ result: 'ok' });
    if (metrics && fresh) {
      // Duplicates are rare (reporters retrying); count them as live.
      metrics.events.inc({ environment: 'test' }, Math.min(batch.test, fresh));
      metrics.events.inc({ environment: 'live' }, Math.max(0, fresh - batch.test));
    }
  }

  /** Over `maxQueue` while storage fails: the oldest events go first. */
  function dropOverflow() {
    let over = depth() - maxQueue;
    if (over <= 0) return;
    metrics?.dropped.inc(over);
    logger.error({ dropped: over }, 'usage queue full: dropped the oldest events');
    if (retry) {
      const n = Math.min(over, retry.n);
      // A subset keeps the id: if the failed write did commit, all of it is stored and the
      // retry stays a no-op.
      retry = n === retry.n ? null : dropOldest(retry, n);
      over -= n;
    }
    if (over > 0) seal();
    while (over > 0 && sealed.length) {
      const first = sealed[0]!;
      const n = Math.min(over, first.n);
      sealedEvents -= n;
      over -= n;
      if (n === first.n) sealed.shift();
      else sealed[0] = dropOldest(first, n);
    }
  }

  /**
   * Writes the sealed batches (and any sealed meanwhile) until none is left; on failure keeps
   * the batch for a retry and stops. Calls arriving meanwhile fill the next batch, which the
   * timer or a full batch seals: under load, batches stay large instead of one per write.
   */
  async function drain(): Promise<void> {
    while (retry || sealed.length) {
      let batch = retry;
      if (!batch) {
        batch = sealed.shift()!;
        sealedEvents -= batch.n;
      }
      retry = null;
      inFlight = batch.n;
      try {
        await writeBatch(batch);
        inFlight = 0;
        failures = 0;
      } catch (err) {
        // Nothing is lost and nothing counted twice: the same batch is retried first.
        inFlight = 0;
        retry = batch;
        failures++;
        metrics?.flushes.inc({ result: 'error' });
        logger.error({ err, queued: depth(), attempt: failures }, 'usage flush failed; will retry');
        dropOverflow();
        return;
      }
    }
  }

  /**
   * Writes everything recorded so far. One drain runs at a time; a caller arriving during one
   * waits for it (it writes the caller's batch too before it ends).
   */
  function flush(): Promise<void> {
    // Everything recorded before this call is in a sealed batch: the running drain (or a new
    // one) writes it before it ends.
    seal();
    if (!running) {
      running = drain().finally(() => {
        running = null;
        if (depth()) schedule(backoffMs(failures, { baseMs: flushIntervalMs, maxMs: 5000 }));
      });
    }
    return running;
  }

  /** `[from, to)` sums, exact: whole hours from the rollups, the partial edges from raw events. */
  async function aggregate(filter: UsageFilter, by: UsageDim[]): Promise<UsageAggRow[]> {
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

  return {
    /** The unit price of one call of `endpoint` (test keys are never priced). */
    priceOf(endpoint: string, environment: KeyEnvironment = 'live'): number {
      return environment === 'test' ? 0 : priceBook.priceOf(endpoint);
    },

    /**
     * Records one finished call without waiting for storage: it is queued and written by the
     * next flush (at most `flushIntervalMs` later, at once when a batch is full). Server errors
     * (5xx) and test keys are recorded at price 0.
     */
    record(call: CallRecord): void {
      const unit =
        call.priceMicros ??
        (call.environment === 'test' || call.status >= 500 ? 0 : priceBook.priceOf(call.endpoint));
      builder.push(
        call,
        unit,
        unit,
        Math.max(0, Math.round(call.durationMs * 1000)),
        call.at ? call.at.getTime() : clock.nowMs(),
      );
      if (closed) {
        void flush();
        return;
      }
      if (builder.size >= maxBatch) {
        seal();
        void flush();
      } else schedule(flushIntervalMs);
    },

    flush,

    /** Events waiting in memory. */
    queueDepth: depth,

    /** Graceful stop: no more timers, everything queued is written (retrying a few times). */
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      for (let attempt = 0; attempt < 20 && (depth() || running); attempt++) {
        await flush();
        if (depth())
          await new Promise((r) => setTimeout(r, backoffMs(attempt, { baseMs: 100, maxMs: 2000 })));
      }
      if (depth()) logger.error({ lost: depth() }, 'usage events could not be written at stop');
      await deps.writer?.close();
    },

    /** `GET /v1/usage` and its admin twin: calls and cost in `[from, to)`, grouped. */
    async summary(q: {
      clientIds?: string[];
      from: string;
      to: string;
      groupBy: UsageGroupBy;
      environment?: 'live' | 'test';
    }): Promise<UsageSummary> {
      checkRange(q.from, q.to);
      const dim = GROUP_DIM[q.groupBy];
      const rows = await aggregate(
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
        currency,
        totals: { ...totals, cost: formatMicros(totals.costMicros) },
        groups: list,
      };
    },

    /** Per-key statistics: calls by endpoint and by status code. */
    async keyUsage(q: {
      clientId: string;
      keyId: string;
      from: string;
      to: string;
      lastUsedAt: string | null;
    }): Promise<KeyUsage> {
      checkRange(q.from, q.to);
      const rows = await aggregate(
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
        currency,
        calls,
        costMicros,
        cost: formatMicros(costMicros),
        lastUsedAt: q.lastUsedAt,
        endpoints: [...endpoints.entries()]
          .map(([endpoint, v]) => ({ endpoint, ...v, cost: formatMicros(v.costMicros) }))
          .sort((a, b) => b.calls - a.calls || a.endpoint.localeCompare(b.endpoint)),
        statusCodes,
      };
    },

    /**
     * Live usage in `[from, to)` per client, endpoint and unit price, for invoices. Read from
     * the rollups (whole hours) plus raw events for partial edge hours, so it stays fast at
     * millions of events.
     */
    async billingLines(q: {
      from: string;
      to: string;
      clientIds?: string[];
    }): Promise<BillingLine[]> {
      checkRange(q.from, q.to);
      const rows = await aggregate(
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
    },
  };
}

export type UsageService = ReturnType<typeof createUsageService>;
