import type { Kysely } from 'kysely';

// Billing (src/billing/): payment details, invoices with their per-period counters, delivery
// attempts and completed runs. Portable types only; money is integer micros in bigint columns.
export async function up(db: Kysely<unknown>): Promise<void> {
  await createPaymentDetails(db);
  await createInvoices(db);
  await createInvoiceCounters(db);
  await createInvoiceDeliveries(db);
  await createInvoiceRuns(db);
}

async function createPaymentDetails(db: Kysely<unknown>) {
  await db.schema
    .createTable('payment_details')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('frequency', 'text', (c) => c.notNull())
    .addColumn('billing_email', 'text')
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('company_name', 'text')
    .addColumn('company_address', 'text')
    .addColumn('company_vat_id', 'text')
    .addColumn('invoice_when_empty', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

async function createInvoices(db: Kysely<unknown>) {
  await db.schema
    .createTable('invoices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('number', 'text', (c) => c.notNull().unique())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('period_start', 'text', (c) => c.notNull())
    .addColumn('period_end', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('total_micros', 'bigint', (c) => c.notNull())
    .addColumn('line_items', 'text', (c) => c.notNull())
    .addColumn('bill_to', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .addColumn('paid_at', 'text')
    .addColumn('voided_at', 'text')
    .addColumn('void_reason', 'text')
    .addColumn('send_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_send_at', 'text')
    .addColumn('sending_until', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    // One invoice per client per period, whoever runs it and however often.
    .addUniqueConstraint('invoices_client_period', ['client_id', 'period'])
    .addUniqueConstraint('invoices_period_seq', ['period', 'seq'])
    .execute();
  await db.schema
    .createIndex('invoices_client_id')
    .on('invoices')
    .columns(['client_id', 'id'])
    .execute();
  await db.schema
    .createIndex('invoices_period_id')
    .on('invoices')
    .columns(['period', 'id'])
    .execute();
  await db.schema
    .createIndex('invoices_next_send')
    .on('invoices')
    .columns(['next_send_at'])
    .execute();
}

async function createInvoiceCounters(db: Kysely<unknown>) {
  await db.schema
    .createTable('invoice_counters')
    .addColumn('period', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'integer', (c) => c.notNull())
    .execute();
}

async function createInvoiceDeliveries(db: Kysely<unknown>) {
  await db.schema
    .createTable('invoice_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('invoice_id', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('to_address', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('transient', 'integer', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('smtp_code', 'integer')
    .addColumn('message_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('invoice_deliveries_invoice')
    .on('invoice_deliveries')
    .columns(['invoice_id', 'id'])
    .execute();
}

async function createInvoiceRuns(db: Kysely<unknown>) {
  await db.schema
    .createTable('invoice_runs')
    .addColumn('period', 'text', (c) => c.primaryKey())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('created', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('existing', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('actor', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('invoice_runs').execute();
  await db.schema.dropTable('invoice_deliveries').execute();
  await db.schema.dropTable('invoice_counters').execute();
  await db.schema.dropTable('invoices').execute();
  await db.schema.dropTable('payment_details').execute();
}
