import { sql, type Kysely } from 'kysely';

// Credits live on a pool row, not on a key: a roll hands the same pool to the new key while the
// old one, during its grace, draws from it too (before this, a roll copied the balance and
// doubled it). Each key with credits gets its own pool, named after it (`pool_` + the key id's
// digits). `retired_at` marks a key that can never be reactivated (rolled, or revoked as leaked).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('key_credit_pools')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('remaining', 'bigint', (c) => c.notNull())
    .addColumn('refill_interval', 'text')
    .addColumn('refill_amount', 'bigint')
    .addColumn('refilled_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('key_credit_pools_client')
    .on('key_credit_pools')
    .column('client_id')
    .execute();
  await db.schema.alterTable('api_keys').addColumn('credit_pool_id', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('retired_at', 'text').execute();
  await sql`
    insert into key_credit_pools
      (id, client_id, remaining, refill_interval, refill_amount, refilled_at, created_at)
    select 'pool_' || substr(id, 5), client_id, credits_remaining, refill_interval, refill_amount,
      refilled_at, created_at
    from api_keys where credits_remaining is not null`.execute(db);
  await sql`
    update api_keys set credit_pool_id = 'pool_' || substr(id, 5)
    where credits_remaining is not null`.execute(db);
  // A key rolled before this migration cannot be reactivated either.
  await sql`update api_keys set retired_at = updated_at where rolled_to is not null`.execute(db);
  for (const column of ['credits_remaining', 'refill_interval', 'refill_amount', 'refilled_at']) {
    await db.schema.alterTable('api_keys').dropColumn(column).execute();
  }
  await db.schema
    .createIndex('api_keys_credit_pool')
    .on('api_keys')
    .column('credit_pool_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('api_keys_credit_pool').execute();
  await db.schema.alterTable('api_keys').addColumn('credits_remaining', 'bigint').execute();
  await db.schema.alterTable('api_keys').addColumn('refill_interval', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('refill_amount', 'bigint').execute();
  await db.schema.alterTable('api_keys').addColumn('refilled_at', 'text').execute();
  await sql`
    update api_keys set
      credits_remaining = (select remaining from key_credit_pools p where p.id = credit_pool_id),
      refill_interval = (select refill_interval from key_credit_pools p where p.id = credit_pool_id),
      refill_amount = (select refill_amount from key_credit_pools p where p.id = credit_pool_id),
      refilled_at = (select refilled_at from key_credit_pools p where p.id = credit_pool_id)
    where credit_pool_id is not null`.execute(db);
  await db.schema.alterTable('api_keys').dropColumn('credit_pool_id').execute();
  await db.schema.alterTable('api_keys').dropColumn('retired_at').execute();
  await db.schema.dropTable('key_credit_pools').execute();
}
