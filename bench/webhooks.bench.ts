import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import {
  NO_POSTGRES_NOTE,
  startKeyplane,
  withBenchPostgres,
  type BenchResult,
  type RunningKeyplane,
} from './lib.ts';

export const description =
  'Webhook dispatch to a loopback receiver: deliveries per second from a burst in the outbox, and commit-to-delivery latency at a steady rate, against the same receiver hit by plain undici POSTs (SQLite and PostgreSQL)';

/** Endpoints (the dispatcher sends each one's messages in order, one at a time). */
const ENDPOINTS = 4;
/** Messages in the burst: each goes to every endpoint. */
const BURST = 250;
/** Messages at a steady rate, one every STEADY_MS, for the latency. */
const STEADY = 120;
const STEADY_MS = 20;
/** Nothing here should take longer; a stuck dispatcher fails the bench instead of hanging it. */
const DEADLINE_MS = 60_000;

interface Arrival {
  seq: number;
  path: string;
  at: number;
}

/** A node:http receiver answering 204, noting when each (message, path) arrived. */
async function startReceiver() {
  const arrivals: Arrival[] = [];
  let waiter: (() => void) | null = null;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { data: { limit: number } };
      arrivals.push({ seq: body.data.limit, path: req.url ?? '', at });
      res.writeHead(204).end();
      waiter?.();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    arrivals,
    /** Resolves once `count` arrivals have been seen since `from` (an index into arrivals). */
    async until(count: number): Promise<void> {
      const deadline = Date.now() + DEADLINE_MS;
      while (arrivals.length < count) {
        if (Date.now() > deadline)
          throw new Error(`receiver: ${arrivals.length} of ${count} arrivals in time`);
        await new Promise<void>((r) => {
          waiter = r;
          setTimeout(r, 50).unref();
        });
      }
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** A rate-limit event whose `limit` carries the message's sequence number. */
const event = (seq: number) => ({
  key: { id: 'key_bench', clientId: 'client_bench', environment: 'live' },
  limit: seq,
  windowSeconds: 60,
  resetAt: new Date().toISOString(),
  endpoint: null,
});

/** One message in the outbox, committed in its own transaction; answers the commit time. */
async function emitOne(kp: RunningKeyplane, seq: number): Promise<number> {
  await kp.services.store.db.transaction().execute((trx) =>
    kp.services.webhooks.emit(trx, {
      type: 'ratelimit.exceeded',
      clientId: null,
      data: event(seq),
    }),
  );
  return performance.now();
}

/** The same work without Keyplane: ENDPOINTS lanes of sequential undici POSTs. */
async function direct(rx: Receiver, messages: number, payload: (seq: number) => string) {
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: ENDPOINTS }, async (_, lane) => {
      for (let seq = 0; seq < messages; seq++) {
        const t0 = performance.now();
        const res = await request(`${rx.base}/direct/${lane}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: payload(seq),
        });
        await res.body.dump();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { perSecond: (messages * ENDPOINTS) / ((performance.now() - start) / 1000), latencies };
}

async function benchOn(label: string, databaseUrl?: string): Promise<BenchResult[]> {
  const rx = await startReceiver();
  const kp = await startKeyplane({ databaseUrl, env: { KEYPLANE_MODE: 'development' } });
  try {
    for (let i = 0; i < ENDPOINTS; i++)
      await kp.services.webhooks.createEndpoint(
        null,
        { url: `${rx.base}/hook/${i}` },
        { type: 'system', id: 'bench' },
      );
    const sample = (seq: number) =>
      JSON.stringify({
        type: 'ratelimit.exceeded',
        version: 1,
        timestamp: new Date().toISOString(),
        data: event(seq),
      });
    const baseline = await direct(rx, BURST, sample);
    rx.arrivals.length = 0;

    // Throughput: a burst written to the outbox while the dispatcher is stopped, then timed
    // from its start until every delivery arrived.
    await kp.services.webhookDispatcher.stop();
    for (let seq = 0; seq < BURST; seq++) await emitOne(kp, seq);
    const t0 = performance.now();
    kp.services.webhookDispatcher.start();
    await rx.until(BURST * ENDPOINTS);
    const perSecond = (BURST * ENDPOINTS) / ((performance.now() - t0) / 1000);
    rx.arrivals.length = 0;

    // Latency: one message every STEADY_MS; commit to arrival, per delivery.
    const committed = new Map<number, number>();
    for (let i = 0; i < STEADY; i++) {
      const seq = BURST + i;
      committed.set(seq, await emitOne(kp, seq));
      await new Promise((r) => setTimeout(r, STEADY_MS));
    }
    await rx.until(STEADY * ENDPOINTS);
    const latencies = rx.arrivals.map((a) => a.at - committed.get(a.seq)!);
    const p99 = percentile(latencies, 99);
    const baseP99 = percentile(baseline.latencies, 99);
    const note = `${ENDPOINTS} endpoints, ${BURST} messages each`;
    return [
      {
        name: `webhook deliveries/s, burst (${label})`,
        value: perSecond,
        unit: 'deliveries/s',
        baseline: { name: 'undici POSTs', value: baseline.perSecond },
        ratio: perSecond / baseline.perSecond,
        note: `${note}; each send signed, on a new connection, its attempt recorded`,
      },
      {
        name: `webhook commit→delivery p99 (${label})`,
        value: p99,
        unit: 'ms',
        baseline: { name: 'undici POST p99', value: baseP99 },
        ratio: p99 / baseP99,
        note: `p50 ${percentile(latencies, 50).toFixed(1)} ms; ${STEADY} messages, one per ${STEADY_MS} ms, ${ENDPOINTS} endpoints; lower is better`,
      },
    ];
  } finally {
    await kp.close();
    await rx.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const results = await benchOn('SQLite');
  const pg = await withBenchPostgres('kp_bench_hooks', (url) => benchOn('PostgreSQL', url));
  results.push(
    ...(pg ?? [
      {
        name: 'webhook deliveries/s (PostgreSQL)',
        value: 0,
        unit: 'deliveries/s',
        note: NO_POSTGRES_NOTE,
      },
    ]),
  );
  return results;
}
