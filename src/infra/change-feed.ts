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

/** What the feed's steps share: who this process is, its subscribers, and the transports. */
interface FeedContext {
  logger: Logger;
  origin: string;
  subscribers: Set<(e: ChangeEvent) => void>;
  resyncers: Set<() => void>;
  /** uids already delivered (insertion-ordered, bounded): the same event via two routes counts once. */
  seen: Set<string>;
  transports: Transport[];
  counter: number;
  started: boolean;
  closed: boolean;
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
  const ctx: FeedContext = {
    logger: deps.logger,
    origin: randomBytes(8).toString('hex'),
    subscribers: new Set(),
    resyncers: new Set(),
    seen: new Set(),
    transports: [],
    counter: 0,
    started: false,
    closed: false,
  };
  ctx.transports = createTransports(deps, createSink(ctx));
  return {
    publish: (event) => publish(ctx, event),
    subscribe(fn) {
      ctx.subscribers.add(fn);
      start(ctx);
      return () => void ctx.subscribers.delete(fn);
    },
    onResync(fn) {
      ctx.resyncers.add(fn);
      start(ctx);
      return () => void ctx.resyncers.delete(fn);
    },
    isLive: () => ctx.transports.some((t) => t.isLive()),
    close: () => close(ctx),
  };
}

/** The store's own channel always; Redis beside it when configured. */
function createTransports(
  deps: { store: Store; redis: Redis | null; pollMs?: number },
  sink: TransportSink,
): Transport[] {
  const { store, redis } = deps;
  const transports: Transport[] = [];
  if (store.engine === 'sqlite') {
    transports.push(createSqliteTransport({ store, sink, pollMs: deps.pollMs ?? 200 }));
  } else {
    transports.push(createPostgresTransport({ pool: store.pgPool!, channel: CHANNEL, sink }));
  }
  if (redis) transports.push(createRedisTransport({ redis, channel: CHANNEL, sink }));
  return transports;
}

/** Where the transports hand what they hear: other processes' events, once each, and resyncs. */
function createSink(ctx: FeedContext): TransportSink {
  return {
    origin: ctx.origin,
    logger: ctx.logger,
    deliver(event) {
      if (ctx.closed || event.origin === ctx.origin || ctx.seen.has(event.uid)) return;
      ctx.seen.add(event.uid);
      if (ctx.seen.size > SEEN_MAX) ctx.seen.delete(ctx.seen.values().next().value as string);
      fanOut(ctx, event);
    },
    resync() {
      if (ctx.closed) return;
      ctx.logger.info('change feed resync: caches start over');
      for (const fn of ctx.resyncers) safely(ctx, fn);
    },
  };
}

function safely(ctx: FeedContext, fn: () => void) {
  try {
    fn();
  } catch (err) {
    ctx.logger.error({ err }, 'change feed subscriber threw');
  }
}

function fanOut(ctx: FeedContext, event: ChangeEvent) {
  const plain: ChangeEvent = { kind: event.kind, id: event.id, clientId: event.clientId };
  for (const fn of ctx.subscribers) safely(ctx, () => fn(plain));
}

function start(ctx: FeedContext) {
  if (ctx.started || ctx.closed) return;
  ctx.started = true;
  for (const t of ctx.transports) t.start();
}

async function publish(ctx: FeedContext, event: ChangeEvent): Promise<void> {
  // Inside a unit of work the write has not committed yet: announce it once it has.
  if (afterCommit(() => publish(ctx, event))) return;
  fanOut(ctx, event);
  if (ctx.closed) return;
  const wire: WireEvent = {
    kind: event.kind,
    id: event.id,
    clientId: event.clientId,
    origin: ctx.origin,
    uid: `${ctx.origin}:${++ctx.counter}`,
  };
  // The write this event reports has already committed: a transport failure is logged,
  // never thrown back at the caller (the other transport, or a resync, covers it).
  const results = await Promise.allSettled(ctx.transports.map((t) => t.send(wire)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      ctx.logger.warn(
        { err: { message: (r.reason as Error)?.message }, transport: ctx.transports[i]!.name },
        'change feed: could not publish to other processes',
      );
    }
  });
}

async function close(ctx: FeedContext) {
  if (ctx.closed) return;
  ctx.closed = true;
  ctx.subscribers.clear();
  ctx.resyncers.clear();
  await Promise.allSettled(ctx.transports.map((t) => t.close()));
}
