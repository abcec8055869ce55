import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/database.ts';
import type { BudgetAlertMailsTable } from './budgets-types.ts';

/** Which alert email: one per budget, period, threshold and recipient. */
export type AlertMailKey = Pick<
  BudgetAlertMailsTable,
  'client_id' | 'budget_id' | 'period_start' | 'threshold' | 'to_address'
>;

function row(db: Kysely<Database>, k: AlertMailKey) {
  return db
    .updateTable('budget_alert_mails')
    .where('client_id', '=', k.client_id)
    .where('budget_id', '=', k.budget_id)
    .where('period_start', '=', k.period_start)
    .where('threshold', '=', k.threshold)
    .where('to_address', '=', k.to_address);
}

/** The alert emails of budget_alert_mails: queued by the claim, claimed per delivery, finished. */
export function createBudgetMailStore(db: Kysely<Database>) {
  return {
    /** Queues an alert's emails in the transaction that claims the alert. */
    async queueAlertMails(trx: Transaction<Database>, rows: BudgetAlertMailsTable[]) {
      if (rows.length) await trx.insertInto('budget_alert_mails').values(rows).execute();
    },
    /** Emails due to be tried (any client's: the sweep's), oldest first. */
    async dueAlertMails(now: string, limit: number): Promise<BudgetAlertMailsTable[]> {
      return db
        .selectFrom('budget_alert_mails')
        .selectAll()
        .where('next_try_at', '<=', now)
        .orderBy('next_try_at')
        .limit(limit)
        .execute();
    },
    /**
     * Takes one delivery of an email: moves its next try to `until` only if it is still due
     * with the attempts seen, so two nodes never send the same attempt. False: another has it.
     */
    async claimAlertMail(k: AlertMailKey, attempts: number, now: string, until: string) {
      const r = await row(db, k)
        .where('attempts', '=', attempts)
        .where('next_try_at', '<=', now)
        .set({ next_try_at: until })
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    /** Records a delivery's tries: sent, due again at `nextTryAt`, or given up (both null). */
    async finishAlertMail(
      k: AlertMailKey,
      done: {
        attempts: number;
        sentAt: string | null;
        nextTryAt: string | null;
        givenUpAt: string | null;
        lastError: string | null;
      },
    ) {
      await row(db, k)
        .set({
          attempts: done.attempts,
          sent_at: done.sentAt,
          next_try_at: done.nextTryAt,
          given_up_at: done.givenUpAt,
          last_error: done.lastError,
        })
        .execute();
    },
  };
}
