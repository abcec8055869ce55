import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../infra/logger.ts';
import { MailError, type Mailer } from '../infra/mailer.ts';
import { backoffMs } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { formatMicros } from '../lib/money.ts';
import type { ReachedAlert } from './budgets-alert-watch.ts';
import type { BudgetsStore } from './budgets-store.ts';
import type { BudgetAlertMailsTable } from './budgets-types.ts';

/**
 * The invoices' numbers: up to 3 tries per delivery (0.5 s, 1 s apart) for transient failures
 * (4xx, connection trouble); a failed delivery is due again 5 min later, doubling, up to 12
 * tries in all; then it is given up with its last error. A permanent refusal (5xx) gives up.
 */
export const ALERT_MAIL_TRIES = 3;
export const ALERT_MAIL_MAX_ATTEMPTS = 12;
export const ALERT_MAIL_RETRY_MS = 5 * 60_000;
const QUICK = { baseMs: 500, maxMs: 30_000 };
/** How long a node sending an email has it before another may try (it may have died). */
const SEND_LEASE_MS = 5 * 60_000;

export interface AlertMailDeps {
  budgetsStore: BudgetsStore;
  mailer: Mailer;
  logger: Logger;
  clock: Clock;
}

export function alertText(a: ReachedAlert, clientName: string, currency: string): string {
  const scope = a.rule.keyId ? `key ${a.rule.keyId}` : 'all keys';
  return (
    `${clientName}: ${a.threshold}% of the ${a.rule.period} budget ${a.rule.id} ` +
    `(${scope}, ${a.rule.mode}) is spent: ${formatMicros(a.spentMicros)} of ` +
    `${formatMicros(a.rule.amountMicros)} ${currency} for the period ${a.periodStart} to ${a.periodEnd}.` +
    (a.rule.mode === 'hard' && a.threshold >= 100
      ? ' Calls that would exceed it are refused until the period ends.'
      : '')
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The tries of one delivery: answers how many were made and the last failure (null: sent). */
async function tries(deps: AlertMailDeps, m: BudgetAlertMailsTable) {
  const context = { budgetId: m.budget_id, threshold: m.threshold };
  let made = 0;
  for (;;) {
    try {
      made++;
      await deps.mailer.send({
        to: m.to_address,
        subject: m.subject,
        text: m.body_text,
        html: m.body_html,
      });
      return { made, error: null };
    } catch (err) {
      const error =
        err instanceof MailError ? err : new MailError('mail delivery failed', true, null, err);
      const last =
        !error.transient ||
        made >= ALERT_MAIL_TRIES ||
        m.attempts + made >= ALERT_MAIL_MAX_ATTEMPTS;
      deps.logger.error(
        { err, ...context, attempt: m.attempts + made, final: last },
        'budget alert email failed',
      );
      if (last) return { made, error };
      await delay(backoffMs(made - 1, QUICK));
    }
  }
}

/**
 * One delivery of one queued alert email, by whichever node claims it first (a conditional
 * UPDATE: two nodes never send the same attempt). Answers true when it went out.
 */
export async function deliverAlertMail(
  deps: AlertMailDeps,
  m: BudgetAlertMailsTable,
): Promise<boolean> {
  const nowMs = deps.clock.nowMs();
  if (
    !(await deps.budgetsStore.claimAlertMail(m, m.attempts, iso(nowMs), iso(nowMs + SEND_LEASE_MS)))
  ) {
    return false;
  }
  const { made, error } = await tries(deps, m);
  const attempts = m.attempts + made;
  const at = deps.clock.nowMs();
  const again = error !== null && error.transient && attempts < ALERT_MAIL_MAX_ATTEMPTS;
  await deps.budgetsStore.finishAlertMail(m, {
    attempts,
    sentAt: error ? null : iso(at),
    nextTryAt: again
      ? iso(at + backoffMs(attempts - 1, { baseMs: ALERT_MAIL_RETRY_MS, maxMs: 24 * 3_600_000 }))
      : null,
    givenUpAt: error && !again ? iso(at) : null,
    lastError: error?.message ?? null,
  });
  return error === null;
}

/** Sends the alert emails that are due (a retry, or one whose node stopped before sending). */
export async function sendDueAlertMails(deps: AlertMailDeps, limit = 100): Promise<number> {
  if (!deps.mailer.enabled) return 0;
  const due = await deps.budgetsStore.dueAlertMails(iso(deps.clock.nowMs()), limit);
  let sent = 0;
  for (const m of due) if (await deliverAlertMail(deps, m)) sent++;
  return sent;
}
