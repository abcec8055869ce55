import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../infra/logger.ts';
import { MailError, type Mailer, type MailMessage } from '../infra/mailer.ts';
import { backoffMs } from '../lib/backoff.ts';
import { formatMicros } from '../lib/money.ts';
import type { ReachedAlert } from './budgets-alert-watch.ts';

/** Tries per alert email; transient failures (4xx, connection trouble) wait 0.2 s, 0.4 s, … */
export const ALERT_MAIL_ATTEMPTS = 5;
const RETRY = { baseMs: 200, maxMs: 30_000 };

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

/**
 * Sends one alert email, retrying transient failures with the server's backoff up to
 * ALERT_MAIL_ATTEMPTS tries (in this process: an alert claimed by a node that stops before its
 * email went out is not sent again). A permanent failure (5xx) is logged, not retried.
 */
export async function sendAlertMail(
  mailer: Mailer,
  logger: Logger,
  message: MailMessage,
  context: { budgetId: string; threshold: number },
): Promise<boolean> {
  for (let attempt = 0; attempt < ALERT_MAIL_ATTEMPTS; attempt++) {
    try {
      await mailer.send(message);
      return true;
    } catch (err) {
      const transient = err instanceof MailError ? err.transient : true;
      const last = !transient || attempt === ALERT_MAIL_ATTEMPTS - 1;
      logger.error(
        { err, ...context, attempt: attempt + 1, final: last },
        'budget alert email failed',
      );
      if (last) return false;
      await delay(backoffMs(attempt, RETRY));
    }
  }
  return false;
}
