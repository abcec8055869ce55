import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/infra/logger.ts';
import { createManualClock } from '../src/lib/clock.ts';
import type { Store } from '../src/store/create-db.ts';
import { compilePriceBook } from '../src/usage/usage-price-book.ts';
import { createUsageService, type CallRecord } from '../src/usage/usage-service.ts';
import { createUsageStore } from '../src/usage/usage-store.ts';
import { logCapture } from './support/harness.ts';
import { createTestStore, ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';
import { storedUsage } from './support/usage.ts';

describe.each(ENGINES)('usage store and flush on %s', (engine) => {
  let t: Awaited<ReturnType<typeof createTestStore>>;
  let store: Store;
  let clock: ReturnType<typeof createManualClock>;
  let logs: ReturnType<typeof logCapture>;
  let logger: ReturnType<typeof createLogger>;
  const priceBook = compilePriceBook({ 'POST /api/video/buffer': 0.01, 'POST /api/alert': '0.10' });

  // Each test has its own database, clock and log: none sees another's rows or renamed tables.
  beforeEach(async () => {
    t = await createTestStore(engine);
    store = t.store;
    clock = createManualClock(new Date('2025-10-02T10:30:00.000Z'));
    logs = logCapture();
    logger = createLogger({ level: 'info', destination: logs.stream });
  });
  afterEach(async () => t?.close());

  /** Takes the rollup table away (a real storage failure on both engines) while `fn` runs. */
  async function withBlocksAway(fn: () => Promise<void>) {
    await sql`alter table usage_blocks rename to usage_blocks_away`.execute(store.db);
    try {
      await fn();
    } finally {
      await sql`alter table usage_blocks_away rename to usage_blocks`.execute(store.db);
    }
  }

  const service = (extra: Partial<Parameters<typeof createUsageService>[0]> = {}) =>
    createUsageService({
      usageStore: createUsageStore(store.db),
      priceBook,
      currency: 'EUR',
      clock,
      logger,
      ...extra,
    });

  let n = 0;
  const call = (over: Partial<CallRecord> = {}): CallRecord => ({
    requestId: `req_${engine}_${n++}`,
    clientId: 'client_a',
    keyId: 'key_a',
    endpoint: 'POST /api/video/buffer',
    method: 'POST',
    status: 200,
    environment: 'live',
    durationMs: 2.5,
    ...over,
  });

  it('never counts a reported request id twice, across batches and flushes', async () => {
    const usage = service();
    const c = call({ clientId: 'client_dup', external: true });
    usage.record(c);
    usage.record(c);
    await usage.flush();
    usage.record(c);
    await usage.flush();
    expect(await storedUsage(store.db, 'client_dup')).toEqual({ calls: 1, costMicros: 10_000 });
    const s = await usage.summary({
      clientIds: ['client_dup'],
      from: '2025-10-02T00:00:00.000Z',
      to: '2025-10-03T00:00:00.000Z',
      groupBy: 'endpoint',
    });
    expect(s.totals.calls).toBe(1);
    await usage.close();
  });

  it('keeps rollups equal to the raw events, for aligned and unaligned ranges', async () => {
    const usage = service({ maxBatch: 97 });
    const start = new Date('2025-10-05T08:00:00.000Z').getTime();
    let expected = 0;
    for (let i = 0; i < 1000; i++) {
      const alert = i % 7 === 0;
      usage.record(
        call({
          clientId: 'client_roll',
          keyId: i % 3 ? 'key_1' : 'key_2',
          endpoint: alert ? 'POST /api/alert' : 'POST /api/video/buffer',
          status: i % 50 === 0 ? 500 : 200,
          environment: i % 11 === 0 ? 'test' : 'live',
          at: new Date(start + i * 37_000), // spread over ~10 hours
        }),
      );
      if (i % 11 !== 0 && i % 50 !== 0) expected += alert ? 100_000 : 10_000;
    }
    await usage.close();
    const raw = await storedUsage(store.db, 'client_roll');
    expect(raw).toEqual({ calls: 1000, costMicros: expected });
    for (const [from, to] of [
      ['2025-10-05T00:00:00.000Z', '2025-10-06T00:00:00.000Z'], // aligned: rollups only
      ['2025-10-05T09:17:00.000Z', '2025-10-05T14:03:30.000Z'], // rollups + both edges
      ['2025-10-05T10:10:00.000Z', '2025-10-05T10:50:00.000Z'], // raw only
    ] as const) {
      const s = await usage.summary({ clientIds: ['client_roll'], from, to, groupBy: 'key' });
      // The record of every call, unpacked and counted by hand.
      const events = await createUsageStore(store.db).listEvents({
        clientIds: ['client_roll'],
        from,
        to,
      });
      expect(events.every((e) => e.createdAt >= from && e.createdAt < to)).toBe(true);
      expect(s.totals.calls).toBe(events.length);
      expect(s.totals.costMicros).toBe(events.reduce((a, e) => a + e.costMicros, 0));
    }
    const lines = await usage.billingLines({
      from: '2025-10-05T00:00:00.000Z',
      to: '2025-10-06T00:00:00.000Z',
      clientIds: ['client_roll'],
    });
    expect(lines.reduce((a, l) => a + l.amountMicros, 0)).toBe(expected);
    for (const l of lines) expect(l.amountMicros).toBe(l.calls * l.unitPriceMicros);
  });

  it('writes one batch with calls to one endpoint under two methods (one rollup row)', async () => {
    // A reporter may name the method apart from the endpoint. The method is not in the rollup's
    // key, so both methods' calls fold into one row: naming that row twice in one upsert is an
    // error on PostgreSQL, and the batch would have been retried forever.
    const usage = service();
    for (const [i, method] of ['GET', 'POST', 'GET', 'PUT'].entries()) {
      usage.record(call({ clientId: 'client_methods', method, external: true, durationMs: i }));
    }
    await usage.flush();
    expect(usage.queueDepth()).toBe(0);
    expect(await storedUsage(store.db, 'client_methods')).toEqual({ calls: 4, costMicros: 40_000 });
    const range = { from: '2025-10-02T00:00:00.000Z', to: '2025-10-03T00:00:00.000Z' };
    const s = await usage.summary({ clientIds: ['client_methods'], ...range, groupBy: 'endpoint' });
    expect(s.totals).toMatchObject({ calls: 4, costMicros: 40_000 });
    const events = await createUsageStore(store.db).listEvents({
      clientIds: ['client_methods'],
      ...range,
    });
    expect(events.map((e) => e.method).sort()).toEqual(['GET', 'GET', 'POST', 'PUT']);
    await usage.close();
  });

  it('flushes within the bounded delay without being asked', async () => {
    const usage = service({ flushIntervalMs: 20 });
    usage.record(call({ clientId: 'client_timer' }));
    expect(usage.queueDepth()).toBe(1);
    await waitFor(
      async () => (await storedUsage(store.db, 'client_timer')).calls > 0,
      'the timer flush',
    );
    expect((await storedUsage(store.db, 'client_timer')).calls).toBe(1);
    await usage.close();
  });

  it('keeps events through a failing flush and writes them once storage is back', async () => {
    const usage = service({ flushIntervalMs: 10 });
    const failures = () => logs.lines.filter((l) => l.includes('usage flush failed')).length;
    await withBlocksAway(async () => {
      for (let i = 0; i < 25; i++) usage.record(call({ clientId: 'client_flaky' }));
      await usage.flush();
      expect(usage.queueDepth()).toBe(25);
      // The timer retries on its own (with backoff) and keeps failing: nothing is lost meanwhile.
      await waitFor(() => failures() >= 3, 'two retries by the timer');
      expect(usage.queueDepth()).toBe(25);
    });
    await usage.close();
    expect(usage.queueDepth()).toBe(0);
    expect(await storedUsage(store.db, 'client_flaky')).toEqual({ calls: 25, costMicros: 250_000 });
    expect(logs.text()).toContain('usage flush failed; will retry');
  });

  it('holds at most maxQueue events while storage fails, dropping the oldest', async () => {
    const usage = service({ flushIntervalMs: 10_000, maxBatch: 10, maxQueue: 25 });
    const ids: string[] = [];
    await withBlocksAway(async () => {
      for (let i = 0; i < 40; i++) {
        const c = call({ clientId: 'client_full' });
        ids.push(c.requestId);
        usage.record(c);
      }
      await usage.flush();
      expect(usage.queueDepth()).toBe(25);
    });
    await usage.close();
    const kept = await createUsageStore(store.db).listEvents({
      clientIds: ['client_full'],
      from: '2025-10-01T00:00:00.000Z',
      to: '2025-10-04T00:00:00.000Z',
    });
    expect(kept.map((e) => e.requestId).sort()).toEqual(ids.slice(15).sort());
    expect(logs.text()).toContain('usage queue full: dropped the oldest events');
  });
});
