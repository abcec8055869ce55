import type { Kysely } from 'kysely';

// Budget leases (issue 16): a node reserves a slice of a budget's period with the same
// conditional UPDATE as a single call, and spends it locally. Each lease outstanding is a row,
// so a node about to refuse a call can see whether other nodes still hold unused reservations
// (it waits for them to come back), and a lease of a node that died is known and expires.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('budget_leases')
    .addColumn('lease_id', 'text', (c) => c.primaryKey())
    .addColumn('budget_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('micros', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('budget_leases_budget')
    .on('budget_leases')
    .columns(['budget_id', 'period_start'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_leases').execute();
}
