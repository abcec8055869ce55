import type { Kysely } from 'kysely';

// Budget holds (issue 16): what each node has reserved on a budget's period and not yet seen
// metered. A call's reservation moves out of its node's hold in the same transaction as the
// usage batch that meters it, and the hold of a node that stopped (kill -9) is given back to
// the budget, so the spend is the sum of the metered usage. `epoch` changes when a hold is
// given back that way: a late settlement of the old epoch is then counted as spend instead.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('budget_holds')
    .addColumn('budget_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('epoch', 'bigint', (c) => c.notNull())
    .addColumn('held_micros', 'bigint', (c) => c.notNull())
    .addColumn('seen_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('budget_holds_pk', ['budget_id', 'period_start', 'node_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_holds').execute();
}
