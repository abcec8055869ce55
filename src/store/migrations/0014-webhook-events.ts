import { sql, type Kysely } from 'kysely';

// Webhook events (issue 15), part two. `webhook_messages.dedupe_key`: an event that must be
// sent at most once (one ratelimit.exceeded per key and window) carries a key, unique across
// every node. `api_keys.expiry_notice`: the last key.expiring notice sent (7 or 1 days before),
// so the periodic scan writes each once. `key_credit_pools`: the last grant (`granted`, counted
// by `grant_seq`) and the credits.low thresholds already reported for it (`low_alerted`:
// 0 none, 1 = 20 %, 2 = 0 %).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('webhook_messages').addColumn('dedupe_key', 'text').execute();
  await db.schema
    .createIndex('webhook_messages_dedupe')
    .on('webhook_messages')
    .column('dedupe_key')
    .unique()
    .execute();
  await db.schema.alterTable('api_keys').addColumn('expiry_notice', 'integer').execute();
  await db.schema.createIndex('api_keys_expires_at').on('api_keys').column('expires_at').execute();
  await db.schema
    .alterTable('key_credit_pools')
    .addColumn('granted', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('key_credit_pools')
    .addColumn('grant_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('key_credit_pools')
    .addColumn('low_alerted', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // The last grant of an existing pool: its refill amount, else what it has now. A pool that is
  // already low counts as reported, so an upgrade does not send a burst of old news.
  await sql`update key_credit_pools set granted = coalesce(refill_amount, remaining)`.execute(db);
  await sql`
    update key_credit_pools set low_alerted = case
      when remaining <= 0 then 2 when remaining * 5 <= granted then 1 else 0 end`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['low_alerted', 'grant_seq', 'granted'])
    await db.schema.alterTable('key_credit_pools').dropColumn(column).execute();
  await db.schema.dropIndex('api_keys_expires_at').execute();
  await db.schema.alterTable('api_keys').dropColumn('expiry_notice').execute();
  await db.schema.dropIndex('webhook_messages_dedupe').execute();
  await db.schema.alterTable('webhook_messages').dropColumn('dedupe_key').execute();
}
