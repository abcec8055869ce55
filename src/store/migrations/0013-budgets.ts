import type { Kysely } from 'kysely';

// Budgets (issue 16): a money limit per period on a client or one of its keys; the spend of
// each budget's period (reserved before a call, settled after it) and the alerts fired, one row
// per (budget, period, threshold) so each fires once whichever node crosses it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('budgets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text')
    .addColumn('amount_micros', 'bigint', (c) => c.notNull())
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('thresholds', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('budgets_client').on('budgets').columns(['client_id']).execute();

  await db.schema
    .createTable('budget_spend')
    .addColumn('budget_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('spent_micros', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('budget_spend_pk', ['budget_id', 'period_start'])
    .execute();

  await db.schema
    .createTable('budget_alerts')
    .addColumn('budget_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('threshold', 'integer', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('spent_micros', 'bigint', (c) => c.notNull())
    .addColumn('fired_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('budget_alerts_pk', ['budget_id', 'period_start', 'threshold'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_alerts').execute();
  await db.schema.dropTable('budget_spend').execute();
  await db.schema.dropTable('budgets').execute();
}
