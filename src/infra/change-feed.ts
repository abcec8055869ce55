import { randomBytes } from 'node:crypto';
import type { Store } from '../store/create-db.ts';
import { createPostgresTransport } from './change-feed-postgres.ts';
import { createRedisTransport } from './change-feed-redis.ts';
import { createSqliteTransport } from './change-feed-sqlite.ts';
import type { Logger } from './logger.ts';
import type { Redis } from './redis.ts';
import { afterCommit } from '../store/unit-of-work.ts';

/**
 * Something a cache may hold went stale: evict it. `credential`: a vault credential of owner
 * `clientId` (a client id or `platform`) was created, changed, deleted or rewrapped.
 */
export interface ChangeEvent {
  kind: 'key' | 'client' | 'credential' | 'budget';
  id: string;
  clientId: string;
}

export interface ChangeFeed {
  /** Deliver to local subscribers at once (synchronously, before returning) and to other processes within 1 s. */
  publish(event: ChangeEvent): Promise<void>;
  subscribe(fn: (e: ChangeEvent) => void): () => void;
  /** 'everything': a subscriber must drop its whole cache (e.g. after a reconnect, when events may have been missed). */
  onResync(fn: () => void): () => void;
  /**
   * False while no channel to other processes is up (e.g. PostgreSQL and Redis both away): a
   * cache should then keep entries only briefly, because remote changes cannot reach it.
   */
  isLive(): boolean;
  close(): Promise<void>;
}

/** An event as it travels between processes: who sent it, and a unique id for de-duplication. */
export interface WireEvent extends ChangeEvent {
  origin: string;
  uid: string;
}

/** What a transport hands incoming traffic to. */
export interface TransportSink {
  /** The sending feed's origin: a transport may drop these itself, the hub drops them anyway. */
  origin: string;
  deliver(event: WireEvent): void;
  /** Events may have been missed (reconnect, pruned log): every cache starts over. */
  resync(): void;
  logger: Logger;
}

/** One way of reaching the other processes (the store's own channel, or Redis). */
export interface Transport {
  name: string;
  /** Connects / starts polling; called once, on the first subscriber. */
  start(): void;
  send(event: WireEvent): Promise<void>;
  isLive(): boolean;
  close(): Promise<void>;
}

const CHANNEL = 'keyplane_changes';
const SEEN_MAX = 4096;

export function isChangeEvent(value: unknown): value is WireEvent {
  const v = value as Partial<WireEvent> | null;
  return (
    !!v &&
    (v.kind === 'key' || v.kind === 'client' || v.kind === 'credential' || v.kind === 'budget') &&
    typeof v.id === 'string' &&
    typeof v.clientId === 'string' &&
    typeof v.origin === 'string' &&
    typeof v.uid === 'string'
  );
}

/**
 * The cache-invalidation feed. Local subscribers hear a change synchronously inside `publish`;
 * other processes hear it through the store's own channel — a `change_log` table polled with
 * `PRAGMA data_version` on SQLite (so a CLI on the same file reaches the running server),
 * LISTEN/NOTIFY on PostgreSQL — and, when Redis is configured, through Redis pub/sub as well.
 * The store channel stays on beside Redis so a revocation never waits for Redis to come back;
 * an event arriving by both routes is delivered once. A process ignores its own events.
 */
export function createChangeFeed(deps: {
  store: Store;
  redis: Redis | null;
  logger: Logger;
  /** SQLite poll interval (ms). */
  pollMs?: number;
}): ChangeFeed {
  const { store, redis, logger } = deps;
  const origin = randomBytes(8).toString('hex');
  const subscribers = new Set<(e: ChangeEvent) => void>();
  const resyncers = new Set<() => void>();
  /** uids already delivered (insertion-ordered, bounded): the same event via two routes counts once. */
  const seen = new Set<string>();
  let counter = 0;
  let started = false;
  let closed = false;

  const safely = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger.error({ err }, 'change feed subscriber threw');
    }
  };
  const fanOut = (event: ChangeEvent) => {
    const plain: ChangeEvent = { kind: event.kind, id: event.id, clientId: event.clientId };
    for (const fn of subscribers) safely(() => fn(plain));
  };

  const sink: TransportSink = {
    origin,
    logger,
    deliver(event) {
      if (closed || event.origin === origin || seen.has(event.uid)) return;
      seen.add(event.uid);
      if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value as string);
      fanOut(event);
    },
    resync() {
      if (closed) return;
      logger.info('change feed resync: caches start over');
      for (const fn of resyncers) safely(fn);
    },
  };

  const transports: Transport[] = [];
  if (store.engine === 'sqlite') {
    transports.push(createSqliteTransport({ store, sink, pollMs: deps.pollMs ?? 200 }));
  } else {
    transports.push(createPostgresTransport({ pool: store.pgPool!, channel: CHANNEL, sink }));
  }
  if (redis) transports.push(createRedisTransport({ redis, channel: CHANNEL, sink }));

  const start = () => {
    if (started || closed) return;
    started = true;
    for (const t of transports) t.start();
  };

  const feed: ChangeFeed = {
    async publish(event) {
      // Inside a unit of work the write has not committed yet: announce it once it has.
      if (afterCommit(() => feed.publish(event))) return;
      fanOut(event);
      if (closed) return;
      const wire: WireEvent = {
        kind: event.kind,
        id: event.id,
        clientId: event.clientId,
        origin,
        uid: `${origin}:${++counter}`,
      };
      // The write this event reports has already committed: a transport failure is logged,
      // never thrown back at the caller (the other transport, or a resync, covers it).
      const results = await Promise.allSettled(transports.map((t) => t.send(wire)));
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          logger.warn(
            { err: { message: (r.reason as Error)?.message }, transport: transports[i]!.name },
            'change feed: could not publish to other processes',
          );
        }
      });
    },
    subscribe(fn) {
      subscribers.add(fn);
      start();
      return () => void subscribers.delete(fn);
    },
    onResync(fn) {
      resyncers.add(fn);
      start();
      return () => void resyncers.delete(fn);
    },
    isLive() {
      return transports.some((t) => t.isLive());
    },
    async close() {
      if (closed) return;
      closed = true;
      subscribers.clear();
      resyncers.clear();
      await Promise.allSettled(transports.map((t) => t.close()));
    },
  };
  return feed;
}
