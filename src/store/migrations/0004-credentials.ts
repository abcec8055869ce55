import type { Kysely } from 'kysely';

/** The credentials vault (SPEC §5). Secrets are sealed text; see credentials-crypto.ts. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // a client id, or 'platform' for the operator's own credentials
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('active_name', 'text')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('permissions', 'text', (c) => c.notNull())
    .addColumn('fields', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'text')
    .addColumn('master_key_id', 'text')
    .addColumn('is_active', 'integer', (c) => c.notNull())
    .addColumn('is_verified', 'integer', (c) => c.notNull())
    .addColumn('last_verified_at', 'text')
    .addColumn('verify_status', 'text')
    .addColumn('verify_message', 'text')
    .addColumn('last_used_at', 'text')
    .addColumn('usage_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .execute();
  // NULLs are distinct in both engines: a deleted credential frees its name.
  await db.schema
    .createIndex('credentials_active_name')
    .on('credentials')
    .columns(['client_id', 'provider', 'active_name'])
    .unique()
    .execute();
  await db.schema
    .createIndex('credentials_client_provider')
    .on('credentials')
    .columns(['client_id', 'provider', 'is_active'])
    .execute();
  await db.schema
    .createIndex('credentials_master_key')
    .on('credentials')
    .columns(['master_key_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('credentials').execute();
}
