import type { Kysely } from 'kysely';

// Imports (src/import/): legacy keys (hash-only, no checksum: `api_keys.legacy = 1`) and the
// bookkeeping that makes a second import of the same source a no-op (one row per source row).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('api_keys')
    .addColumn('legacy', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('api_keys_legacy')
    .on('api_keys')
    .columns(['legacy', 'status'])
    .execute();

  await db.schema
    .createTable('import_records')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('entity', 'text', (c) => c.notNull())
    .addColumn('source_id', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('import_records_pk', ['source', 'entity', 'source_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('import_records').execute();
  await db.schema.dropIndex('api_keys_legacy').execute();
  await db.schema.alterTable('api_keys').dropColumn('legacy').execute();
}
