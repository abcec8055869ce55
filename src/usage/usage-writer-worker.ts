import { parentPort, workerData } from 'node:worker_threads';
import { createStore } from '../store/create-db.ts';
import { createUsageStore } from './usage-store.ts';
import type { PackedBatch } from './usage-packed.ts';

/**
 * The SQLite usage writer thread: its own connection to the same file, running the same
 * `insertBatch` (events + rollups in one transaction) one batch at a time, so that SQLite's
 * synchronous work never runs on the thread that serves requests.
 */
const { databaseUrl } = workerData as { databaseUrl: string };
const store = createStore(databaseUrl);
const usageStore = createUsageStore(store.db, store.sqlite);
let chain: Promise<void> = Promise.resolve();

parentPort!.on('message', (msg: { id: number; batch?: PackedBatch; close?: boolean }) => {
  chain = chain.then(async () => {
    if (msg.close) {
      await store.close();
      parentPort!.postMessage({ id: msg.id, closed: true });
      return;
    }
    try {
      const fresh = await usageStore.insertBatch(msg.batch!);
      parentPort!.postMessage({ id: msg.id, fresh });
    } catch (err) {
      parentPort!.postMessage({ id: msg.id, error: (err as Error).message ?? String(err) });
    }
  });
});
parentPort!.postMessage({ id: 0, ready: true });
