import { Worker } from 'node:worker_threads';
import type { PackedBatch } from './usage-packed.ts';

export interface UsageWriter {
  insertBatch(batch: PackedBatch): Promise<number>;
  close(): Promise<void>;
}

/**
 * The writer thread's module: it registers tsx, then loads usage-writer-worker.ts. The test
 * suite starts a prebuilt bundle of usage-writer-worker.ts instead (the same code, without tsx
 * starting in every new thread: about 1.5 s of each start on a loaded machine).
 */
export const USAGE_WRITER_ENTRY = new URL('./usage-writer-entry.mjs', import.meta.url);

/**
 * Writes usage batches to SQLite from a worker thread (started on the first batch), so the
 * flush's synchronous SQLite work does not take time from requests. PostgreSQL needs none:
 * its flush is I/O the event loop waits on.
 */
export function createSqliteUsageWriter(
  databaseUrl: string,
  entry: URL = USAGE_WRITER_ENTRY,
): UsageWriter {
  let worker: Worker | null = null;
  let ready: Promise<void> | null = null;
  let next = 1;
  const pending = new Map<number, { resolve: (v: { fresh?: number; error?: string }) => void }>();

  function start(): Promise<void> {
    if (ready) return ready;
    worker = new Worker(entry, {
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
      worker!.postMessage({ id, ...msg });
    });
  }

  return {
    async insertBatch(batch) {
      await start();
      const r = await send({ batch });
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
