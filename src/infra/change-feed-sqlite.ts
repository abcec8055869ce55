import type { Selectable } from 'kysely';
import type { Store } from '../store/create-db.ts';
import type { ChangeLogTable } from './change-feed-types.ts';
import type { Transport, TransportSink, WireEvent } from './change-feed.ts';

/** Rows older than this are pruned; a reader that fell further behind resyncs. */
const KEEP_MS = 5 * 60_000;
const PRUNE_EVERY_MS = 60_000;
const PAGE = 1000;

/** What the transport's steps share: the store, where the reader stands, whether it is failing. */
interface SqliteFeedContext {
  db: Store['db'];
  raw: NonNullable<Store['sqlite']>;
  sink: TransportSink;
  pollMs: number;
  timer: NodeJS.Timeout | null;
  /** The last `seq` read; null until the first poll has found the head of the log. */
  cursor: number | null;
  dataVersion: number;
  polling: Promise<void> | null;
  lastPrune: number;
  failing: boolean;
  closed: boolean;
}

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
  const ctx: SqliteFeedContext = {
    db: deps.store.db,
    raw: deps.store.sqlite!,
    sink: deps.sink,
    pollMs: deps.pollMs,
    timer: null,
    cursor: null,
    dataVersion: -1,
    polling: null,
    lastPrune: 0,
    failing: false,
    closed: false,
  };
  return {
    name: 'sqlite',
    start: () => start(ctx),
    send: (event) => send(ctx, event),
    isLive: () => ctx.cursor !== null && !ctx.failing,
    close: () => close(ctx),
  };
}

function start(ctx: SqliteFeedContext) {
  if (ctx.closed || ctx.timer) return;
  tick(ctx);
  ctx.timer = setInterval(() => tick(ctx), ctx.pollMs);
  ctx.timer.unref();
}

async function close(ctx: SqliteFeedContext) {
  ctx.closed = true;
  if (ctx.timer) clearInterval(ctx.timer);
  ctx.timer = null;
  await ctx.polling;
}

/** One poll at a time; a failure is logged once, and recovery once. */
function tick(ctx: SqliteFeedContext) {
  if (ctx.polling || ctx.closed) return;
  ctx.polling = poll(ctx)
    .then(() => {
      // Nothing was lost while failing: the cursor still points where we stopped reading.
      if (ctx.failing) ctx.sink.logger.info('change feed: reading the change log again');
      ctx.failing = false;
    })
    .catch((err: Error) => {
      if (!ctx.failing)
        ctx.sink.logger.warn({ err: { message: err.message } }, 'change feed poll failed');
      ctx.failing = true;
    })
    .finally(() => {
      ctx.polling = null;
    });
}

const readDataVersion = (ctx: SqliteFeedContext) =>
  ctx.raw.pragma('data_version', { simple: true }) as number;

async function poll(ctx: SqliteFeedContext): Promise<void> {
  const version = readDataVersion(ctx);
  if (version === ctx.dataVersion && ctx.cursor !== null) return;
  if (ctx.cursor === null) {
    ctx.cursor = await headSeq(ctx);
    ctx.dataVersion = version;
    return;
  }
  const cursor = ctx.cursor;
  const rows = await ctx.db
    .selectFrom('change_log')
    .selectAll()
    .where('seq', '>', cursor)
    .orderBy('seq')
    .limit(PAGE)
    .execute();
  if (rows.length === 0) {
    ctx.dataVersion = version;
    return;
  }
  // seq is max + 1 and only the oldest rows are ever deleted, so a hole right after our
  // cursor means the rows we had not read yet were pruned: we cannot know what changed.
  if (rows[0]!.seq !== cursor + 1 && (await prunedPast(ctx, cursor))) ctx.sink.resync();
  for (const row of rows) ctx.sink.deliver(wireEventOf(row));
  ctx.cursor = rows[rows.length - 1]!.seq;
  // A full page may have more behind it: keep dataVersion stale so the next tick reads on.
  if (rows.length < PAGE) ctx.dataVersion = version;
}

async function headSeq(ctx: SqliteFeedContext): Promise<number> {
  const head = await ctx.db
    .selectFrom('change_log')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .executeTakeFirst();
  return Number(head?.seq ?? 0);
}

async function prunedPast(ctx: SqliteFeedContext, after: number): Promise<boolean> {
  const oldest = await ctx.db
    .selectFrom('change_log')
    .select((eb) => eb.fn.min('seq').as('seq'))
    .executeTakeFirst();
  return Number(oldest?.seq ?? 0) > after + 1;
}

function wireEventOf(row: Selectable<ChangeLogTable>): WireEvent {
  return {
    kind: row.kind,
    id: row.entity_id,
    clientId: row.client_id,
    origin: row.origin,
    uid: row.uid,
  };
}

async function send(ctx: SqliteFeedContext, event: WireEvent) {
  const now = Date.now();
  await ctx.db
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
  if (now - ctx.lastPrune > PRUNE_EVERY_MS) {
    ctx.lastPrune = now;
    await prune(ctx, now);
  }
}

async function prune(ctx: SqliteFeedContext, now: number) {
  // Never the newest row: seq is max + 1, so deleting it would hand its number out again.
  await ctx.db
    .deleteFrom('change_log')
    .where('created_at', '<', new Date(now - KEEP_MS).toISOString())
    .where('seq', '<', (eb) => eb.selectFrom('change_log').select(eb.fn.max('seq').as('m')))
    .execute();
}
