import type { Kysely } from 'kysely';

// Usage metering: raw events (request id unique → never counted twice) and hourly rollups that
// the flush maintains in the same transaction. Portable types only.
export async function up(db: Kysely<unknown>): Promise<void> {
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
  // Partial hours at the edges of a query range are read from the raw events.
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

  await db.schema
    .createTable('usage_hourly')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('hour', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('status', 'integer', (c) => c.notNull())
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('unit_price_micros', 'bigint', (c) => c.notNull())
    .addColumn('calls', 'bigint', (c) => c.notNull())
    .addColumn('cost_micros', 'bigint', (c) => c.notNull())
    .addColumn('duration_us', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_hourly_pk', [
      'client_id',
      'hour',
      'key_id',
      'endpoint',
      'status',
      'environment',
      'unit_price_micros',
    ])
    .execute();
  // Billing and admin queries read every client's rollups for a period.
  await db.schema.createIndex('usage_hourly_hour').on('usage_hourly').columns(['hour']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('usage_hourly').execute();
  await db.schema.dropTable('usage_events').execute();
}
