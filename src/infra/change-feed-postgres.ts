import pg from 'pg';
import { backoffMs } from '../lib/backoff.ts';
import { isChangeEvent, type Transport, type TransportSink } from './change-feed.ts';

const BACKOFF = { baseMs: 200, maxMs: 5000 };

/**
 * The change feed over PostgreSQL LISTEN/NOTIFY: NOTIFY goes through the pool, LISTEN holds one
 * dedicated connection made from the pool's settings. When that connection drops it comes back
 * with a capped backoff, and once it listens again every cache resyncs (NOTIFYs sent while it was
 * away are gone).
 */
export function createPostgresTransport(deps: {
  pool: pg.Pool;
  channel: string;
  sink: TransportSink;
}): Transport {
  const { pool, channel, sink } = deps;
  let client: pg.Client | null = null;
  let listening = false;
  let everListened = false;
  let failures = 0;
  let retry: NodeJS.Timeout | null = null;
  let connecting: Promise<void> | null = null;
  let closed = false;

  const onNotification = (msg: pg.Notification) => {
    if (msg.channel !== channel || !msg.payload) return;
    try {
      const event: unknown = JSON.parse(msg.payload);
      if (isChangeEvent(event)) sink.deliver(event);
    } catch {
      /* not ours */
    }
  };

  function lost(c: pg.Client, err?: Error) {
    if (c !== client) return;
    client = null;
    listening = false;
    c.removeAllListeners('notification');
    c.end().catch(() => undefined);
    if (closed) return;
    sink.logger.warn(
      { err: err && { message: err.message } },
      'change feed: PostgreSQL listener lost, reconnecting',
    );
    schedule();
  }

  function schedule() {
    if (closed || retry) return;
    retry = setTimeout(
      () => {
        retry = null;
        connect();
      },
      backoffMs(failures, BACKOFF),
    );
    retry.unref();
    failures++;
  }

  function connect() {
    if (closed || connecting) return;
    const c = new pg.Client({ ...pool.options, keepAlive: true });
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    c.on('notification', onNotification);
    client = c;
    connecting = (async () => {
      try {
        await c.connect();
        await c.query(`LISTEN ${channel}`);
        if (closed || client !== c) return;
        listening = true;
        failures = 0;
        // Anything sent before this point and after the last LISTEN may have been missed.
        if (everListened) sink.resync();
        else everListened = true;
      } catch (err) {
        lost(c, err as Error);
        if (!everListened) everListened = true; // a late first connect may have missed events too
      }
    })().finally(() => {
      connecting = null;
    });
  }

  return {
    name: 'postgres',
    start() {
      connect();
    },
    async send(event) {
      await pool.query('select pg_notify($1, $2)', [channel, JSON.stringify(event)]);
    },
    isLive: () => listening,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      retry = null;
      await connecting;
      const c = client;
      client = null;
      listening = false;
      if (c) await c.end().catch(() => undefined);
    },
  };
}
