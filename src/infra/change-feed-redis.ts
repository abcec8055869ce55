import type { Redis } from './redis.ts';
import { isChangeEvent, type Transport, type TransportSink } from './change-feed.ts';

const READY_WAIT_MS = 1000;

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
  const { redis, channel, sink } = deps;
  let sub: Redis | null = null;
  let subscribed = false;
  /** The connection dropped (or never came up) since the last subscription: events may be lost. */
  let missed = false;
  let closed = false;

  async function subscribe(s: Redis) {
    try {
      await s.subscribe(channel);
      if (closed || s !== sub) return;
      subscribed = true;
      if (missed) sink.resync();
      missed = false;
    } catch (err) {
      // The connection went away again before it answered; the next 'ready' tries again.
      sink.logger.debug({ err: { message: (err as Error).message } }, 'redis subscribe failed');
    }
  }

  /** The shared connection fails fast while not ready; a CLI publishing at once waits a moment. */
  async function ready(): Promise<void> {
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

  return {
    name: 'redis',
    start() {
      if (closed || sub) return;
      const s = redis.duplicate({
        // Subscribing waits for the connection instead of failing fast like commands do.
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
      });
      sub = s;
      // The shared connection already logs Redis being away.
      s.on('error', () => {
        missed = true;
      });
      s.on('close', () => {
        subscribed = false;
        missed = true;
      });
      s.on('ready', () => void subscribe(s));
      s.on('message', (ch: string, payload: string) => {
        if (ch !== channel) return;
        try {
          const event: unknown = JSON.parse(payload);
          if (isChangeEvent(event)) sink.deliver(event);
        } catch {
          /* not ours */
        }
      });
    },
    async send(event) {
      await ready();
      await redis.publish(channel, JSON.stringify(event));
    },
    isLive: () => subscribed,
    async close() {
      closed = true;
      subscribed = false;
      const s = sub;
      sub = null;
      if (s) s.disconnect();
    },
  };
}
