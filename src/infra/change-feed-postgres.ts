import pg from 'pg';
import { backoffMs } from '../lib/backoff.ts';
import { isChangeEvent, type Transport, type TransportSink } from './change-feed.ts';

const BACKOFF = { baseMs: 200, maxMs: 5000 };

/** What the transport's steps share: the pool, the listening connection and its retry state. */
interface PostgresFeedContext {
  pool: pg.Pool;
  channel: string;
  sink: TransportSink;
  client: pg.Client | null;
  listening: boolean;
  everListened: boolean;
  failures: number;
  retry: NodeJS.Timeout | null;
  connecting: Promise<void> | null;
  closed: boolean;
}

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
  const ctx: PostgresFeedContext = {
    ...deps,
    client: null,
    listening: false,
    everListened: false,
    failures: 0,
    retry: null,
    connecting: null,
    closed: false,
  };
  return {
    name: 'postgres',
    start: () => connect(ctx),
    send: async (event) => {
      await ctx.pool.query('select pg_notify($1, $2)', [ctx.channel, JSON.stringify(event)]);
    },
    isLive: () => ctx.listening,
    close: () => close(ctx),
  };
}

function onNotification(ctx: PostgresFeedContext, msg: pg.Notification) {
  if (msg.channel !== ctx.channel || !msg.payload) return;
  try {
    const event: unknown = JSON.parse(msg.payload);
    if (isChangeEvent(event)) ctx.sink.deliver(event);
  } catch {
    /* not ours */
  }
}

function connect(ctx: PostgresFeedContext) {
  if (ctx.closed || ctx.connecting) return;
  const c = new pg.Client({ ...ctx.pool.options, keepAlive: true });
  c.on('error', (err) => lost(ctx, c, err));
  c.on('end', () => lost(ctx, c));
  c.on('notification', (msg) => onNotification(ctx, msg));
  ctx.client = c;
  ctx.connecting = listen(ctx, c).finally(() => {
    ctx.connecting = null;
  });
}

async function listen(ctx: PostgresFeedContext, c: pg.Client) {
  try {
    await c.connect();
    await c.query(`LISTEN ${ctx.channel}`);
    if (ctx.closed || ctx.client !== c) return;
    ctx.listening = true;
    ctx.failures = 0;
    // Anything sent before this point and after the last LISTEN may have been missed.
    if (ctx.everListened) ctx.sink.resync();
    else ctx.everListened = true;
  } catch (err) {
    lost(ctx, c, err as Error);
    ctx.everListened = true; // a late first connect may have missed events too
  }
}

function lost(ctx: PostgresFeedContext, c: pg.Client, err?: Error) {
  if (c !== ctx.client) return;
  ctx.client = null;
  ctx.listening = false;
  c.removeAllListeners('notification');
  c.end().catch(() => undefined);
  if (ctx.closed) return;
  ctx.sink.logger.warn(
    { err: err && { message: err.message } },
    'change feed: PostgreSQL listener lost, reconnecting',
  );
  schedule(ctx);
}

function schedule(ctx: PostgresFeedContext) {
  if (ctx.closed || ctx.retry) return;
  ctx.retry = setTimeout(
    () => {
      ctx.retry = null;
      connect(ctx);
    },
    backoffMs(ctx.failures, BACKOFF),
  );
  ctx.retry.unref();
  ctx.failures++;
}

async function close(ctx: PostgresFeedContext) {
  ctx.closed = true;
  if (ctx.retry) clearTimeout(ctx.retry);
  ctx.retry = null;
  await ctx.connecting;
  const c = ctx.client;
  ctx.client = null;
  ctx.listening = false;
  if (c) await c.end().catch(() => undefined);
}
