import type { Redis } from './redis.ts';
import { isChangeEvent, type Transport, type TransportSink } from './change-feed.ts';

const READY_WAIT_MS = 1000;

/** What the transport's steps share: the shared connection, the subscriber and its state. */
interface RedisFeedContext {
  redis: Redis;
  channel: string;
  sink: TransportSink;
  sub: Redis | null;
  subscribed: boolean;
  /** The connection dropped (or never came up) since the last subscription: events may be lost. */
  missed: boolean;
  closed: boolean;
}

/**
 * The change feed over Redis pub/sub: PUBLISH on the shared command connection, SUBSCRIBE on a
 * duplicate of it (a subscribed connection can do nothing else). ioredis reconnects and
 * re-subscribes by itself; once the subscription is back every cache resyncs, because what was
 * published in between is gone.
 */
export function createRedisTransport(deps: {
  redis: Redis;
  channel: string;
  sink: TransportSink;
}): Transport {
  const ctx: RedisFeedContext = {
    ...deps,
    sub: null,
    subscribed: false,
    missed: false,
    closed: false,
  };
  return {
    name: 'redis',
    start: () => start(ctx),
    send: async (event) => {
      await ready(ctx.redis);
      await ctx.redis.publish(ctx.channel, JSON.stringify(event));
    },
    isLive: () => ctx.subscribed,
    close: async () => {
      ctx.closed = true;
      ctx.subscribed = false;
      const s = ctx.sub;
      ctx.sub = null;
      if (s) s.disconnect();
    },
  };
}

function start(ctx: RedisFeedContext) {
  if (ctx.closed || ctx.sub) return;
  const s = ctx.redis.duplicate({
    // Subscribing waits for the connection instead of failing fast like commands do.
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  });
  ctx.sub = s;
  // The shared connection already logs Redis being away.
  s.on('error', () => {
    ctx.missed = true;
  });
  s.on('close', () => {
    ctx.subscribed = false;
    ctx.missed = true;
  });
  s.on('ready', () => void subscribe(ctx, s));
  s.on('message', (ch: string, payload: string) => onMessage(ctx, ch, payload));
}

function onMessage(ctx: RedisFeedContext, ch: string, payload: string) {
  if (ch !== ctx.channel) return;
  try {
    const event: unknown = JSON.parse(payload);
    if (isChangeEvent(event)) ctx.sink.deliver(event);
  } catch {
    /* not ours */
  }
}

async function subscribe(ctx: RedisFeedContext, s: Redis) {
  try {
    await s.subscribe(ctx.channel);
    if (ctx.closed || s !== ctx.sub) return;
    ctx.subscribed = true;
    if (ctx.missed) ctx.sink.resync();
    ctx.missed = false;
  } catch (err) {
    // The connection went away again before it answered; the next 'ready' tries again.
    ctx.sink.logger.debug({ err: { message: (err as Error).message } }, 'redis subscribe failed');
  }
}

/** The shared connection fails fast while not ready; a CLI publishing at once waits a moment. */
async function ready(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`redis not ready (${redis.status})`));
    }, READY_WAIT_MS);
    const onReady = () => {
      clearTimeout(t);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
