import type { Store } from '../store/create-db.ts';
import type { Transport, TransportSink, WireEvent } from './change-feed.ts';

/** Rows older than this are pruned; a reader that fell further behind resyncs. */
const KEEP_MS = 5 * 60_000;
const PRUNE_EVERY_MS = 60_000;

/**
 * The change feed between processes on one SQLite file (the server and a CLI, or two servers on
 * one host). `publish` appends a `change_log` row; every process polls `PRAGMA data_version`,
 * which moves only when ANOTHER connection committed, and reads the rows past its cursor then.
 * An idle poll is one pragma on the raw handle: no query, no allocation to speak of.
 */
export function createSqliteTransport(deps: {
  store: Store;
  sink: TransportSink;
  pollMs: number;
}): Transport {
  const { store, sink, pollMs } = deps;
  const db = store.db;
  const raw = store.sqlite!;
  let timer: NodeJS.Timeout | null = null;
  let cursor: number | null = null;
  let dataVersion = -1;
  let polling: Promise<void> | null = null;
  let lastPrune = 0;
  let failing = false;
  let closed = false;

  const readDataVersion = () => raw.pragma('data_version', { simple: true }) as number;

  async function poll(): Promise<void> {
    const version = readDataVersion();
    if (version === dataVersion && cursor !== null) return;
    if (cursor === null) {
      const head = await db
        .selectFrom('change_log')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .executeTakeFirst();
      cursor = Number(head?.seq ?? 0);
      dataVersion = version;
      return;
    }
    const rows = await db
      .selectFrom('change_log')
      .selectAll()
      .where('seq', '>', cursor)
      .orderBy('seq')
      .limit(1000)
      .execute();
    if (rows.length === 0) {
      dataVersion = version;
      return;
    }
    // seq is max + 1 and only the oldest rows are ever deleted, so a hole right after our
    // cursor means the rows we had not read yet were pruned: we cannot know what changed.
    if (rows[0]!.seq !== cursor + 1 && (await prunedPast(cursor))) sink.resync();
    for (const row of rows) {
      const event: WireEvent = {
        kind: row.kind,
        id: row.entity_id,
        clientId: row.client_id,
        origin: row.origin,
        uid: row.uid,
      };
      sink.deliver(event);
    }
    cursor = rows[rows.length - 1]!.seq;
    // A full page may have more behind it: keep dataVersion stale so the next tick reads on.
    if (rows.length < 1000) dataVersion = version;
  }

  async function prunedPast(after: number): Promise<boolean> {
    const oldest = await db
      .selectFrom('change_log')
      .select((eb) => eb.fn.min('seq').as('seq'))
      .executeTakeFirst();
    return Number(oldest?.seq ?? 0) > after + 1;
  }

  const tick = () => {
    if (polling || closed) return;
    polling = poll()
      .then(() => {
        // Nothing was lost while failing: the cursor still points where we stopped reading.
        if (failing) sink.logger.info('change feed: reading the change log again');
        failing = false;
      })
      .catch((err: Error) => {
        if (!failing)
          sink.logger.warn({ err: { message: err.message } }, 'change feed poll failed');
        failing = true;
      })
      .finally(() => {
        polling = null;
      });
  };

  return {
    name: 'sqlite',
    start() {
      if (closed || timer) return;
      tick();
      timer = setInterval(tick, pollMs);
      timer.unref();
    },
    async send(event) {
      const now = Date.now();
      await db
        .insertInto('change_log')
        .values({
          origin: event.origin,
          uid: event.uid,
          kind: event.kind,
          entity_id: event.id,
          client_id: event.clientId,
          created_at: new Date(now).toISOString(),
        })
        .execute();
      if (now - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now;
        // Never the newest row: seq is max + 1, so deleting it would hand its number out again.
        await db
          .deleteFrom('change_log')
          .where('created_at', '<', new Date(now - KEEP_MS).toISOString())
          .where('seq', '<', (eb) => eb.selectFrom('change_log').select(eb.fn.max('seq').as('m')))
          .execute();
      }
    },
    isLive: () => cursor !== null && !failing,
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = null;
      await polling;
    },
  };
}
