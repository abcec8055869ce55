import type { Kysely } from 'kysely';

// Budget alert emails (issue 16): one row per claimed alert and recipient, written in the
// claiming transaction, so an email whose node stopped before it went out is sent by another
// node. Each delivery claims its row with a conditional UPDATE on `next_try_at` (two nodes never
// send the same attempt); a failed one is due again after the invoices' back-off, up to their
// attempt cap, then given up with its last error.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('budget_alert_mails')
    .addColumn('budget_id', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('threshold', 'integer', (c) => c.notNull())
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body_text', 'text', (c) => c.notNull())
    .addColumn('body_html', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_try_at', 'text')
    .addColumn('sent_at', 'text')
    .addColumn('given_up_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('budget_alert_mails_pk', [
      'budget_id',
      'period_start',
      'threshold',
      'to_address',
    ])
    .execute();
  await db.schema
    .createIndex('budget_alert_mails_due')
    .on('budget_alert_mails')
    .column('next_try_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('budget_alert_mails').execute();
}
