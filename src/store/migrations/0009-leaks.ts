import type { Kysely } from 'kysely';

// Leaked keys (src/leaks/): reported key hashes (idempotency), accepted partner signatures
// (replay), per-client policies, and rolled keys' sealed replacements until first view.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('leak_reports')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('key_start', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('token_type', 'text')
    .addColumn('url', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('new_key_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('leak_reports_client')
    .on('leak_reports')
    .columns(['client_id', 'id'])
    .execute();

  await db.schema
    .createTable('leak_signatures')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('seen_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('leak_signatures_seen')
    .on('leak_signatures')
    .column('seen_at')
    .execute();

  await db.schema
    .createTable('leak_policies')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('leak_sealed_keys')
    .addColumn('key_id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('replaced_key_id', 'text', (c) => c.notNull())
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('leak_sealed_keys_client')
    .on('leak_sealed_keys')
    .column('client_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['leak_sealed_keys', 'leak_policies', 'leak_signatures', 'leak_reports']) {
    await db.schema.dropTable(t).execute();
  }
}
