import type { Kysely } from 'kysely';

// Budget periods refused full (issue 16): a hard budget can stop a few micro-units short of
// its amount (the next price does not fit). The transaction that refuses a call for that
// reason marks the period, and the alert sweep counts a marked period as 100 % reached, so the
// 100 % alert fires (once) even when the refusing node died before claiming it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('budget_spend').addColumn('full_at', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('budget_spend').dropColumn('full_at').execute();
}
