import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { testWorker } from './support/harness.ts';
import { createChangeFeed, type ChangeEvent, type ChangeFeed } from '../src/infra/change-feed.ts';
import { createLogger } from '../src/infra/logger.ts';
import { createRedis, type Redis } from '../src/infra/redis.ts';
import { createStore, type Engine, type Store } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { startRedis } from './support/servers.ts';
import { ENGINES, createTestDatabase, redisUrl, type TestDatabase } from './support/stores.ts';

/** The contract: a change made anywhere reaches every other process within 1 s. */
const DEADLINE_MS = 1000;
const logger = createLogger({ level: 'silent' });

let n = 0;
const event = (kind: ChangeEvent['kind'] = 'key'): ChangeEvent => ({
  kind,
  id: `${kind}_${(++n).toString(16).padStart(24, '0')}`,
  clientId: 'client_000000000000000000000001',
});

/** What a verification cache would see. */
function listen(feed: ChangeFeed) {
  const seen = { events: [] as ChangeEvent[], resyncs: 0 };
  feed.subscribe((e) => seen.events.push(e));
  feed.onResync(() => seen.resyncs++);
  return seen;
}

async function until(check: () => boolean, ms: number, what: string): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

/**
 * Waits until `listener` has heard `marker`, published by another feed after the events under
 * test. Each route delivers in order, so anything those events were going to cause on this
 * listener (an echo, a duplicate) has arrived by then: a negative claim with no fixed sleep.
 */
async function fence(from: ChangeFeed, listener: { events: ChangeEvent[] }, what: string) {
  const marker = event('client');
  markers.add(marker.id);
  await from.publish(marker);
  await until(() => listener.events.some((e) => e.id === marker.id), 10_000, what);
}
const markers = new Set<string>();
/** What a listener heard, less the fences' markers. */
const heard = (listener: { events: ChangeEvent[] }) =>
  listener.events.filter((e) => !markers.has(e.id));

/** Two stores on one database, as two nodes (or a node and a CLI) have. */
async function twoStores(engine: Engine) {
  const database = await createTestDatabase(engine);
  const a = createStore(database.url);
  await migrateToLatest(a.db);
  const b = createStore(database.url);
  return { database, a, b };
}

describe.each(ENGINES)('change feed between two stores on one %s database', (engine) => {
  let database: TestDatabase;
  let stores: Store[];
  let feedA: ChangeFeed;
  let feedB: ChangeFeed;

  beforeEach(async () => {
    const s = await twoStores(engine);
    database = s.database;
    stores = [s.a, s.b];
    feedA = createChangeFeed({ store: s.a, redis: null, logger });
    feedB = createChangeFeed({ store: s.b, redis: null, logger });
  });

  afterEach(async () => {
    await feedA.close();
    await feedB.close();
    for (const s of stores) await s.close();
    await database.drop();
  });

  test('publish reaches local subscribers before it returns, once, never echoed back', async () => {
    const a = listen(feedA);
    await until(() => feedA.isLive(), 5000, 'feed A live');
    const e = event();
    const pending = feedA.publish(e);
    expect(a.events).toEqual([e]); // synchronously: the same node's HTTP API sees it at once
    await pending;
    listen(feedB); // B starts its channel on its first subscriber
    await until(() => feedB.isLive(), 5000, 'feed B live');
    await fence(feedB, a, 'a later change from B reaches A'); // an echo of e would come first
    expect(heard(a)).toEqual([e]);
    expect(a.resyncs).toBe(0);
  });

  test('a change published through the other store arrives within 1 s, complete and in order', async () => {
    const b = listen(feedB);
    await until(() => feedB.isLive(), 5000, 'feed B live');
    const first = event('client');
    await feedA.publish(first);
    const elapsed = await until(() => b.events.length === 1, DEADLINE_MS, 'delivery');
    expect(b.events).toEqual([first]);

    const burst = Array.from({ length: 50 }, () => event());
    for (const e of burst) await feedA.publish(e);
    await until(() => b.events.length === 51, DEADLINE_MS, 'burst delivery');
    expect(b.events).toEqual([first, ...burst]);
    expect(b.resyncs).toBe(0);
    expect(elapsed).toBeLessThan(DEADLINE_MS);
  });
});

/** A child process on the same SQLite file: the CLI, or a second server. */
function child(args: string[]) {
  const proc: ChildProcess = spawn(process.execPath, [testWorker('change-feed-child'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    lines: () => out.split('\n').filter(Boolean),
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('change feed across processes on one SQLite file', () => {
  let database: TestDatabase;
  let store: Store;
  let feed: ChangeFeed;

  beforeEach(async () => {
    database = await createTestDatabase('sqlite');
    store = createStore(database.url);
    await migrateToLatest(store.db);
    feed = createChangeFeed({ store, redis: null, logger });
  });

  afterEach(async () => {
    await feed.close();
    await store.close();
    await database.drop();
  });

  test('a CLI process that publishes and exits reaches the running server within 1 s', async () => {
    const seen = listen(feed);
    await until(() => feed.isLive(), 5000, 'feed live');
    const e = event();
    const cli = child(['publish', database.url, e.kind, e.id, e.clientId]);
    // Time from the child's publish (its "published" line), not from its start-up.
    await until(() => cli.lines().includes('published'), 20_000, 'child published');
    await until(() => seen.events.length > 0, DEADLINE_MS, 'delivery from the CLI process');
    expect(seen.events).toEqual([e]);
    expect(await cli.exited).toBe(0);
  });

  test('this process reaches a listening server process within 1 s', async () => {
    const server = child(['listen', database.url]);
    try {
      await until(() => server.lines().includes('listening'), 20_000, 'child listening');
      const e = event('client');
      await feed.publish(e);
      await until(() => server.lines().length > 1, DEADLINE_MS, 'delivery to the child');
      expect(
        server
          .lines()
          .slice(1)
          .map((l) => JSON.parse(l)),
      ).toEqual([e]);
    } finally {
      await server.stop();
    }
  });
});

describe('change feed on SQLite: the change log is pruned', () => {
  test('publish prunes rows older than a few minutes, but never the newest', async () => {
    const { database, a, b } = await twoStores('sqlite');
    const feed = createChangeFeed({ store: a, redis: null, logger });
    try {
      const old = new Date(Date.now() - 3600_000).toISOString();
      const row = (uid: string) => ({
        origin: 'elsewhere',
        uid,
        kind: 'key' as const,
        entity_id: 'key_1',
        client_id: 'client_1',
        created_at: old,
      });
      await b.db
        .insertInto('change_log')
        .values([row('o1'), row('o2')])
        .execute();
      await feed.publish(event());
      const left = await a.db.selectFrom('change_log').select(['uid', 'origin']).execute();
      expect(left).toHaveLength(1);
      expect(left[0]!.origin).not.toBe('elsewhere');
    } finally {
      await feed.close();
      await a.close();
      await b.close();
      await database.drop();
    }
  });

  test('a reader whose unread rows were pruned resyncs, then reads on', async () => {
    const { database, a, b } = await twoStores('sqlite');
    const feed = createChangeFeed({ store: b, redis: null, logger });
    try {
      const seen = listen(feed);
      await until(() => feed.isLive(), 5000, 'feed live');
      // As if this reader had slept through a prune: rows 1-2 come and go in one commit.
      await a.db.transaction().execute(async (tx) => {
        for (const uid of ['x1', 'x2', 'x3']) {
          await tx
            .insertInto('change_log')
            .values({
              origin: 'elsewhere',
              uid,
              kind: 'client',
              entity_id: `client_${uid}`,
              client_id: `client_${uid}`,
              created_at: new Date().toISOString(),
            })
            .execute();
        }
        await tx.deleteFrom('change_log').where('uid', 'in', ['x1', 'x2']).execute();
      });
      await until(() => seen.events.length === 1, DEADLINE_MS, 'delivery');
      expect(seen.resyncs).toBe(1);
      expect(seen.events).toEqual([{ kind: 'client', id: 'client_x3', clientId: 'client_x3' }]);
    } finally {
      await feed.close();
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});

describe.skipIf(!ENGINES.includes('postgres'))('change feed on PostgreSQL: lost listener', () => {
  test('the listener reconnects, subscribers resync, and delivery resumes', async () => {
    const { database, a, b } = await twoStores('postgres');
    const feedA = createChangeFeed({ store: a, redis: null, logger });
    const feedB = createChangeFeed({ store: b, redis: null, logger });
    try {
      const seen = listen(feedB);
      await until(() => feedB.isLive(), 5000, 'feed B live');
      // Only feed B listens (A never subscribed): kill its connection from the server side.
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      const { rowCount } = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and query like 'LISTEN%' and pid <> pg_backend_pid()`,
      );
      await admin.end();
      expect(rowCount).toBe(1);
      await until(() => seen.resyncs === 1, 10_000, 'resync after reconnect');
      expect(feedB.isLive()).toBe(true);
      const e = event();
      await feedA.publish(e);
      await until(() => seen.events.length === 1, DEADLINE_MS, 'delivery after reconnect');
      expect(seen.events).toEqual([e]);
    } finally {
      await feedA.close();
      await feedB.close();
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});

describe.skipIf(!redisUrl())('change feed over Redis pub/sub', () => {
  /** Two nodes on two different SQLite files: only Redis can carry a change between them. */
  async function twoNodes(url: string) {
    const dbs = [await createTestDatabase('sqlite'), await createTestDatabase('sqlite')];
    const stores = dbs.map((d) => createStore(d.url));
    for (const s of stores) await migrateToLatest(s.db);
    const redises: Redis[] = stores.map(() => createRedis(url, logger));
    const feeds = stores.map((store, i) => createChangeFeed({ store, redis: redises[i]!, logger }));
    return {
      feeds,
      redises,
      close: async () => {
        for (const f of feeds) await f.close();
        for (const r of redises) r.disconnect();
        for (const s of stores) await s.close();
        for (const d of dbs) await d.drop();
      },
    };
  }

  test('a change published on one node reaches the other within 1 s, once', async () => {
    const nodes = await twoNodes(redisUrl()!);
    try {
      const [feedA, feedB] = nodes.feeds as [ChangeFeed, ChangeFeed];
      const seen = listen(feedB);
      const own = listen(feedA);
      // B subscribes asynchronously: probe until it hears one, then time a fresh event.
      const probe = setInterval(() => void feedA.publish(event('client')), 50);
      await until(() => seen.events.length > 0, 5000, 'subscription up').finally(() =>
        clearInterval(probe),
      );
      await fence(feedA, seen, 'the probes drained'); // published after every probe
      seen.events.length = 0;
      own.events.length = 0;
      const e = event();
      await feedA.publish(e);
      await until(() => seen.events.length === 1, DEADLINE_MS, 'delivery over Redis');
      // A duplicate on B would arrive before a later event from A, an echo on A before one from B.
      await fence(feedA, seen, 'a later change reaches B');
      await fence(feedB, own, 'a change from B reaches A');
      expect(heard(seen)).toEqual([e]);
      expect(heard(own)).toEqual([e]);
    } finally {
      await nodes.close();
    }
  });

  test('after a Redis restart subscribers resync and delivery resumes', async () => {
    const first = await startRedis();
    if (!first) throw new Error('redis-server vanished');
    const port = Number(new URL(first.url).port);
    let second: Awaited<ReturnType<typeof startRedis>> = null;
    const nodes = await twoNodes(first.url);
    try {
      const [feedA, feedB] = nodes.feeds as [ChangeFeed, ChangeFeed];
      const seen = listen(feedB);
      await until(() => feedB.isLive(), 5000, 'subscribed');
      expect(seen.resyncs).toBe(0);

      await first.stop();
      await until(() => nodes.redises[0]!.status !== 'ready', 5000, 'notices Redis is gone');
      // A change while Redis is away still reaches local subscribers and does not throw.
      const during = event();
      const own = listen(feedA);
      await feedA.publish(during);
      expect(own.events).toEqual([during]);

      second = await startRedis({ port });
      await until(() => seen.resyncs === 1, 10_000, 'resync after Redis is back');
      await until(() => nodes.redises[0]!.status === 'ready', 10_000, 'publisher reconnected');
      const after = event();
      await feedA.publish(after);
      await until(() => seen.events.length === 1, DEADLINE_MS, 'delivery after restart');
      expect(seen.events).toEqual([after]);
    } finally {
      await nodes.close();
      await second?.stop();
    }
  });
});
