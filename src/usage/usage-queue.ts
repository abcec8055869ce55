import type { Logger } from '../infra/logger.ts';
import { backoffMs } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { Registry } from 'prom-client';
import { createUsageMetrics, type UsageMetrics } from './usage-metrics.ts';
import {
  createBatchBuilder,
  dropOldest,
  type BatchStatement,
  type PackedBatch,
} from './usage-packed.ts';
import type { PriceBook } from './usage-price-book.ts';
import type { UsageStore } from './usage-store.ts';
import type { UsageWriter } from './usage-writer.ts';

export interface UsageQueueDeps {
  usageStore: UsageStore;
  /** Writes batches elsewhere (the SQLite writer thread); default: `usageStore.insertBatch`. */
  writer?: UsageWriter;
  priceBook: PriceBook;
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
  /**
   * Another module's writes that must commit with the batch metering the calls they account
   * for: given a batch's ledger (each account's summed micros, see CallRecord.ledger), the
   * statements to run in its transaction (budgets settle their holds this way).
   */
  ledgerWrites?: (entries: Array<[account: string, micros: number]>) => BatchStatement[];
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
  /** Amounts this call's batch settles in its transaction (opaque accounts: see ledgerWrites). */
  ledger?: ReadonlyArray<{ account: string; micros: number }>;
}

/** The queue of recorded calls between the hot path and storage. */
interface Queue {
  deps: UsageQueueDeps;
  flushIntervalMs: number;
  maxBatch: number;
  maxQueue: number;
  /** Calls since the last sealed batch, packed (no object kept per call). */
  builder: ReturnType<typeof createBatchBuilder>;
  /** The ledger of the calls in `builder`: micros by account. */
  ledger: Map<string, number>;
  /** Full batches waiting for the writer, oldest first. */
  sealed: PackedBatch[];
  sealedEvents: number;
  /** Events of the batch being written right now: still pending until it commits. */
  inFlight: number;
  /**
   * A batch whose write failed. It is written again exactly as it was (same id, same events)
   * before anything newer, so that if the failed write did commit, the retry is a no-op.
   */
  retry: PackedBatch | null;
  timer: NodeJS.Timeout | null;
  running: Promise<void> | null;
  failures: number;
  closed: boolean;
  metrics: UsageMetrics | null;
}

const depth = (q: Queue) => q.builder.size + q.sealedEvents + q.inFlight + (q.retry?.n ?? 0);

function schedule(q: Queue, delay: number) {
  if (q.timer || q.closed) return;
  q.timer = setTimeout(() => {
    q.timer = null;
    void flush(q);
  }, delay);
  q.timer.unref();
}

function seal(q: Queue) {
  const batch = q.builder.seal(newId('usage'));
  if (batch && q.ledger.size && q.deps.ledgerWrites) {
    batch.also = q.deps.ledgerWrites([...q.ledger]);
    q.ledger = new Map();
  }
  if (batch) {
    q.sealed.push(batch);
    q.sealedEvents += batch.n;
  }
}

async function writeBatch(q: Queue, batch: PackedBatch) {
  const { metrics, deps } = q;
  const end = metrics?.flushSeconds.startTimer();
  const fresh = deps.writer
    ? await deps.writer.insertBatch(batch)
    : await deps.usageStore.insertBatch(batch);
  end?.();
  metrics?.flushes.inc({ result: 'ok' });
  if (metrics && fresh) {
    // Duplicates are rare (reporters retrying); count them as live.
    metrics.events.inc({ environment: 'test' }, Math.min(batch.test, fresh));
    metrics.events.inc({ environment: 'live' }, Math.max(0, fresh - batch.test));
  }
}

/** Over `maxQueue` while storage fails: the oldest events go first. */
function dropOverflow(q: Queue) {
  let over = depth(q) - q.maxQueue;
  if (over <= 0) return;
  q.metrics?.dropped.inc(over);
  q.deps.logger.error({ dropped: over }, 'usage queue full: dropped the oldest events');
  if (q.retry) {
    const n = Math.min(over, q.retry.n);
    // A subset keeps the id: if the failed write did commit, all of it is stored and the
    // retry stays a no-op.
    q.retry = n === q.retry.n ? null : dropOldest(q.retry, n);
    over -= n;
  }
  if (over > 0) seal(q);
  while (over > 0 && q.sealed.length) {
    const first = q.sealed[0]!;
    const n = Math.min(over, first.n);
    q.sealedEvents -= n;
    over -= n;
    if (n === first.n) q.sealed.shift();
    else q.sealed[0] = dropOldest(first, n);
  }
}

/**
 * Writes the sealed batches (and any sealed meanwhile) until none is left; on failure keeps
 * the batch for a retry and stops. Calls arriving meanwhile fill the next batch, which the
 * timer or a full batch seals: under load, batches stay large instead of one per write.
 */
async function drain(q: Queue): Promise<void> {
  while (q.retry || q.sealed.length) {
    let batch = q.retry;
    if (!batch) {
      batch = q.sealed.shift()!;
      q.sealedEvents -= batch.n;
    }
    q.retry = null;
    q.inFlight = batch.n;
    try {
      await writeBatch(q, batch);
      q.inFlight = 0;
      q.failures = 0;
    } catch (err) {
      // Nothing is lost and nothing counted twice: the same batch is retried first.
      q.inFlight = 0;
      q.retry = batch;
      q.failures++;
      q.metrics?.flushes.inc({ result: 'error' });
      q.deps.logger.error(
        { err, queued: depth(q), attempt: q.failures },
        'usage flush failed; will retry',
      );
      dropOverflow(q);
      return;
    }
  }
}

/**
 * Writes everything recorded so far. One drain runs at a time; a caller arriving during one
 * waits for it (it writes the caller's batch too before it ends).
 */
function flush(q: Queue): Promise<void> {
  // Everything recorded before this call is in a sealed batch: the running drain (or a new
  // one) writes it before it ends.
  seal(q);
  if (!q.running) {
    q.running = drain(q).finally(() => {
      q.running = null;
      if (depth(q)) schedule(q, backoffMs(q.failures, { baseMs: q.flushIntervalMs, maxMs: 5000 }));
    });
  }
  return q.running;
}

/**
 * Records one finished call without waiting for storage: it is queued and written by the
 * next flush (at most `flushIntervalMs` later, at once when a batch is full). Server errors
 * (5xx) and test keys are recorded at price 0.
 */
function record(q: Queue, call: CallRecord): void {
  const unit =
    call.priceMicros ??
    (call.environment === 'test' || call.status >= 500
      ? 0
      : q.deps.priceBook.priceOf(call.endpoint));
  q.builder.push(
    call,
    unit,
    unit,
    Math.max(0, Math.round(call.durationMs * 1000)),
    call.at ? call.at.getTime() : q.deps.clock.nowMs(),
  );
  if (call.ledger) {
    for (const e of call.ledger) q.ledger.set(e.account, (q.ledger.get(e.account) ?? 0) + e.micros);
  }
  if (q.closed) {
    void flush(q);
    return;
  }
  if (q.builder.size >= q.maxBatch) {
    seal(q);
    void flush(q);
  } else schedule(q, q.flushIntervalMs);
}

/** Graceful stop: no more timers, everything queued is written (retrying a few times). */
async function close(q: Queue): Promise<void> {
  q.closed = true;
  if (q.timer) clearTimeout(q.timer);
  q.timer = null;
  for (let attempt = 0; attempt < 20 && (depth(q) || q.running); attempt++) {
    await flush(q);
    if (depth(q))
      await new Promise((r) => setTimeout(r, backoffMs(attempt, { baseMs: 100, maxMs: 2000 })));
  }
  if (depth(q))
    q.deps.logger.error({ lost: depth(q) }, 'usage events could not be written at stop');
  await q.deps.writer?.close();
}

/**
 * Metering's write side: `record` queues a call in memory (packed), flushes write the queue
 * in batches, each exactly once, and `close` writes what is left.
 */
export function createUsageQueue(deps: UsageQueueDeps) {
  const q: Queue = {
    deps,
    flushIntervalMs: deps.flushIntervalMs ?? 250,
    maxBatch: deps.maxBatch ?? 5000,
    maxQueue: deps.maxQueue ?? 500_000,
    builder: createBatchBuilder(),
    ledger: new Map(),
    sealed: [],
    sealedEvents: 0,
    inFlight: 0,
    retry: null,
    timer: null,
    running: null,
    failures: 0,
    closed: false,
    metrics: null,
  };
  q.metrics = deps.registry ? createUsageMetrics(deps.registry, () => depth(q)) : null;
  return {
    record: (call: CallRecord) => record(q, call),
    flush: () => flush(q),
    /** Events waiting in memory. */
    queueDepth: () => depth(q),
    close: () => close(q),
  };
}
