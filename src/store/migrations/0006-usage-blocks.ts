import type { Kysely } from 'kysely';
import { decodeBlockV2, encodeBlocksV2, type MigratedEvent } from './usage-block-v2.ts';

// Usage events are stored packed: one `usage_blocks` row per (flush batch, client, hour) instead
// of one `usage_events` row per call (a row per call cost the writer ~8 µs an event, most of the
// price of metering on the hot path). Existing events move into blocks, their request ids into
// `usage_request_ids` (so a reporter retrying an event sent before the upgrade is still counted
// once), and `usage_events` goes away. The hourly rollups are unchanged.

const PAGE = 5000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations see the schema of their time, not today's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('usage_batches')
    .addColumn('batch_id', 'text', (c) => c.primaryKey())
    .addColumn('events', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('usage_request_ids')
    .addColumn('request_id', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('usage_blocks')
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('hour', 'text', (c) => c.notNull())
    .addColumn('calls', 'bigint', (c) => c.notNull())
    .addColumn('cost_micros', 'bigint', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_blocks_pk', ['batch_id', 'seq'])
    .execute();
  // The partial hours at a query's edges: one client's blocks of an hour, or every client's.
  await db.schema
    .createIndex('usage_blocks_client_hour')
    .on('usage_blocks')
    .columns(['client_id', 'hour'])
    .execute();
  await db.schema.createIndex('usage_blocks_hour').on('usage_blocks').columns(['hour']).execute();

  const now = new Date().toISOString();
  let after = '';
  for (let page = 0; ; page++) {
    const rows = (await db
      .selectFrom('usage_events')
      .selectAll()
      .where('request_id', '>', after)
      .orderBy('request_id')
      .limit(PAGE)
      .execute()) as Array<Record<string, unknown>>;
    if (!rows.length) break;
    after = String(rows[rows.length - 1]!.request_id);
    const events: MigratedEvent[] = rows.map((r) => ({
      requestId: String(r.request_id),
      clientId: String(r.client_id),
      keyId: String(r.key_id),
      endpoint: String(r.endpoint),
      method: String(r.method),
      status: Number(r.status),
      environment: r.environment === 'test' ? 'test' : 'live',
      unitPriceMicros: Number(r.unit_price_micros),
      costMicros: Number(r.cost_micros),
      durationUs: Number(r.duration_us),
      createdAt: new Date(String(r.created_at)).toISOString(),
    }));
    const batchId = `use_migrated_${String(page).padStart(8, '0')}`;
    await db
      .insertInto('usage_batches')
      .values({ batch_id: batchId, events: events.length, created_at: now })
      .execute();
    for (const block of encodeBlocksV2(batchId, events)) {
      await db.insertInto('usage_blocks').values(block).execute();
    }
    for (let i = 0; i < events.length; i += 500) {
      await db
        .insertInto('usage_request_ids')
        .values(events.slice(i, i + 500).map((e) => ({ request_id: e.requestId, created_at: now })))
        .execute();
    }
  }
  await db.schema.dropTable('usage_events').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('usage_events')
    .addColumn('request_id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('unit_price_micros', 'bigint', (c) => c.notNull())
    .addColumn('cost_micros', 'bigint', (c) => c.notNull())
    .addColumn('duration_us', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('usage_events_client_time')
    .on('usage_events')
    .columns(['client_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('usage_events_time')
    .on('usage_events')
    .columns(['created_at'])
    .execute();
  let after: [string, number] = ['', -1];
  for (;;) {
    const blocks = (await db
      .selectFrom('usage_blocks')
      .select(['batch_id', 'seq', 'client_id', 'hour', 'events'])
      .where((eb) =>
        eb.or([
          eb('batch_id', '>', after[0]),
          eb.and([eb('batch_id', '=', after[0]), eb('seq', '>', after[1])]),
        ]),
      )
      .orderBy('batch_id')
      .orderBy('seq')
      .limit(100)
      .execute()) as Array<{
      batch_id: string;
      seq: number;
      client_id: string;
      hour: string;
      events: string;
    }>;
    if (!blocks.length) break;
    const last = blocks[blocks.length - 1]!;
    after = [last.batch_id, Number(last.seq)];
    for (const block of blocks) {
      const events = decodeBlockV2(block);
      for (let i = 0; i < events.length; i += 500) {
        await db
          .insertInto('usage_events')
          .values(
            events.slice(i, i + 500).map((e) => ({
              request_id: e.requestId,
              client_id: e.clientId,
              key_id: e.keyId,
              endpoint: e.endpoint,
              method: e.method,
              status: e.status,
              environment: e.environment,
              unit_price_micros: e.unitPriceMicros,
              cost_micros: e.costMicros,
              duration_us: e.durationUs,
              created_at: e.createdAt,
            })),
          )
          .onConflict((oc) => oc.column('request_id').doNothing())
          .execute();
      }
    }
  }
  await db.schema.dropTable('usage_blocks').execute();
  await db.schema.dropTable('usage_request_ids').execute();
  await db.schema.dropTable('usage_batches').execute();
}
