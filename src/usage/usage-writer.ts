import { Worker } from 'node:worker_threads';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { UsageBatch, UsageEvent } from './usage-types.ts';

export interface UsageWriter {
  insertBatch(batch: UsageBatch): Promise<number>;
  close(): Promise<void>;
}

/**
 * Writes usage batches to SQLite from a worker thread (started on the first batch), so the
 * flush's synchronous SQLite work does not take time from requests. PostgreSQL needs none:
 * its flush is I/O the event loop waits on.
 */
export function createSqliteUsageWriter(databaseUrl: string): UsageWriter {
  let worker: Worker | null = null;
  let ready: Promise<void> | null = null;
  let next = 1;
  const pending = new Map<number, { resolve: (v: { fresh?: number; error?: string }) => void }>();

  function start(): Promise<void> {
    if (ready) return ready;
    worker = new Worker(new URL('./usage-writer-entry.mjs', import.meta.url), {
      workerData: { databaseUrl },
    });
    ready = new Promise((resolve, reject) => {
      worker!.once('error', reject);
      worker!.on(
        'message',
        (m: { id: number; fresh?: number; error?: string; ready?: boolean }) => {
          if (m.ready) return resolve();
          const p = pending.get(m.id);
          pending.delete(m.id);
          // An idle writer must not keep the process alive; a busy one must.
          if (!pending.size) worker?.unref();
          p?.resolve(m);
        },
      );
    });
    worker.on('error', (err) => {
      // A dead writer fails every pending batch (they stay queued and are retried).
      for (const p of pending.values()) p.resolve({ error: err.message });
      pending.clear();
      worker = null;
      ready = null;
    });
    return ready;
  }

  function send(msg: { batch?: PackedBatch; close?: boolean }) {
    const id = next++;
    return new Promise<{ fresh?: number; error?: string }>((resolve) => {
      pending.set(id, { resolve });
      worker!.ref();
      const transfer = msg.batch
        ? [msg.batch.dims.buffer as ArrayBuffer, msg.batch.nums.buffer as ArrayBuffer]
        : [];
      worker!.postMessage({ id, ...msg }, transfer);
    });
  }

  return {
    async insertBatch(batch) {
      await start();
      const r = await send({ batch: packBatch(batch) });
      if (r.error !== undefined) throw new Error(r.error);
      return r.fresh ?? 0;
    },
    async close() {
      if (!worker || !ready) return;
      await ready.catch(() => undefined);
      if (worker) {
        await send({ close: true });
        await worker.terminate();
      }
      worker = null;
      ready = null;
    },
  };
}

/**
 * A batch as it crosses to the writer thread. Structured-cloning thousands of event objects
 * cost the request thread ~1 µs an event; packed, it is a few typed arrays (moved, not copied),
 * the request ids joined into one string, and the few distinct client/key/endpoint/method/
 * environment strings once each.
 */
export interface PackedBatch {
  id: string;
  n: number;
  /** Distinct strings the `dims` index. */
  strings: string[];
  /** Per event: client, key, endpoint, method, environment (indexes into `strings`). */
  dims: Uint32Array;
  /** Per event: status, unit price, cost, duration (µs), time (ms since the epoch). */
  nums: Float64Array;
  /** Request ids, as one JSON array (one string to copy instead of thousands). */
  ids: string;
  /** Indexes of external events. */
  external: number[];
}

const DIMS = 5;
const NUMS = 5;

export function packBatch(batch: UsageBatch): PackedBatch {
  const n = batch.events.length;
  const strings: string[] = [];
  const index = new Map<string, number>();
  const intern = (s: string) => {
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    return i;
  };
  const dims = new Uint32Array(n * DIMS);
  const nums = new Float64Array(n * NUMS);
  const ids: string[] = new Array(n);
  const external: number[] = [];
  let lastIso = '';
  let lastMs = 0;
  for (let i = 0; i < n; i++) {
    const e = batch.events[i]!;
    const d = i * DIMS;
    dims[d] = intern(e.clientId);
    dims[d + 1] = intern(e.keyId);
    dims[d + 2] = intern(e.endpoint);
    dims[d + 3] = intern(e.method);
    dims[d + 4] = intern(e.environment);
    const m = i * NUMS;
    nums[m] = e.status;
    nums[m + 1] = e.unitPriceMicros;
    nums[m + 2] = e.costMicros;
    nums[m + 3] = e.durationUs;
    // Calls of the same millisecond share one ISO string: parse it once.
    if (e.createdAt !== lastIso) {
      lastIso = e.createdAt;
      lastMs = Date.parse(lastIso);
    }
    nums[m + 4] = lastMs;
    ids[i] = e.requestId;
    if (e.external) external.push(i);
  }
  return { id: batch.id, n, strings, dims, nums, ids: JSON.stringify(ids), external };
}

export function unpackBatch(p: PackedBatch): UsageBatch {
  const ids = JSON.parse(p.ids) as string[];
  const events: UsageEvent[] = new Array(p.n);
  let lastMs = -1;
  let lastIso = '';
  for (let i = 0; i < p.n; i++) {
    const d = i * DIMS;
    const m = i * NUMS;
    const ms = p.nums[m + 4]!;
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    events[i] = {
      requestId: ids[i]!,
      clientId: p.strings[p.dims[d]!]!,
      keyId: p.strings[p.dims[d + 1]!]!,
      endpoint: p.strings[p.dims[d + 2]!]!,
      method: p.strings[p.dims[d + 3]!]!,
      environment: p.strings[p.dims[d + 4]!] as KeyEnvironment,
      status: p.nums[m]!,
      unitPriceMicros: p.nums[m + 1]!,
      costMicros: p.nums[m + 2]!,
      durationUs: p.nums[m + 3]!,
      createdAt: lastIso,
    };
  }
  for (const i of p.external) events[i]!.external = true;
  return { id: p.id, events };
}
