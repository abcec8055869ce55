import type { Kysely } from 'kysely';

// Budget reservations (issue 16): a price reserved through POST /admin/v1/verify (a service
// that checks keys itself) is durable, one row per budget it applies to, so the usage report
// of that call (POST /admin/v1/usage/events with its reservationId), whichever node takes it,
// settles it once at the real price in the usage batch's transaction (`settled_by` names the
// settlement that claimed it). One not reported in time is released by the sweep
// (`released_at`): its price goes back, and a report arriving later is added to the spend.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('budget_reservations')
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('budget_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('epoch', 'bigint', (c) => c.notNull())
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('price_micros', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('settled_at', 'text')
    .addColumn('settled_by', 'text')
    .addColumn('released_at', 'text')
    .addPrimaryKeyConstraint('budget_reservations_pk', ['id', 'budget_id'])
    .execute();
  await db.schema
    .createIndex('budget_reservations_expiry')
    .on('budget_reservations')
    .column('expires_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_reservations').execute();
}
