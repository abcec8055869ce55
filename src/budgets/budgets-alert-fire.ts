import type { Logger } from '../infra/logger.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { Clock } from '../lib/clock.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import { alertText, deliverAlertMail } from './budgets-alert-mail.ts';
import type { ReachedAlert } from './budgets-alert-watch.ts';
import { periodBounds, reachedThresholds } from './budgets-fns.ts';
import { toRule } from './budgets-rules.ts';
import type { BudgetsStore } from './budgets-store.ts';
import type { BudgetClientInfo } from './budgets-service.ts';
import type { BudgetAlertMailsTable } from './budgets-types.ts';

export interface AlertDeps {
  budgetsStore: BudgetsStore;
  clock: Clock;
  logger: Logger;
  clientInfo: (clientId: string) => Promise<BudgetClientInfo | null>;
  mailer: Mailer;
  operatorEmail: string | null;
  emit?: EmitEvent;
}

/** How far back the sweep looks: the longest period (a month) and some. */
const SWEEP_LOOKBACK_MS = 40 * 86_400_000;

/**
 * One alert: claimed in the database (once per budget, period and threshold, with its
 * `budget.threshold` webhook event in the same transaction), then emailed by the claimer.
 */
export async function fireAlert(deps: AlertDeps, a: ReachedAlert): Promise<void> {
  const info = await deps.clientInfo(a.clientId);
  const currency = info?.currency ?? 'EUR';
  const { id, keyId, period, mode, amountMicros } = a.rule;
  const data = {
    budget: { id, keyId, period, mode, amountMicros, currency },
    threshold: a.threshold,
    periodStart: a.periodStart,
    periodEnd: a.periodEnd,
    spentMicros: a.spentMicros,
  };
  const claim = {
    budgetId: id,
    periodStart: a.periodStart,
    threshold: a.threshold,
    spent: a.spentMicros,
    at: deps.clock.now().toISOString(),
  };
  const mails = deps.mailer.enabled ? alertMails(deps, a, info) : [];
  const won = await deps.budgetsStore.claimAlert(a.clientId, claim, async (trx) => {
    await deps.emit?.(trx, { type: 'budget.threshold', clientId: a.clientId, data });
    await deps.budgetsStore.queueAlertMails(trx, mails);
  });
  if (!won) return;
  await Promise.all(mails.map((m) => deliverAlertMail(deps, m)));
}

/** The alert's emails (billing address and operator), queued with the claim, due at once. */
function alertMails(
  deps: AlertDeps,
  a: ReachedAlert,
  info: BudgetClientInfo | null,
): BudgetAlertMailsTable[] {
  const text = alertText(a, info?.name ?? a.clientId, info?.currency ?? 'EUR');
  const recipients = [info?.alertEmail ?? null, deps.operatorEmail].filter(
    (to, i, all): to is string => !!to && all.indexOf(to) === i,
  );
  const html = `<p>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p>`;
  const now = deps.clock.now().toISOString();
  return recipients.map((to) => ({
    budget_id: a.rule.id,
    period_start: a.periodStart,
    threshold: a.threshold,
    to_address: to,
    client_id: a.clientId,
    subject: `Keyplane: budget ${a.threshold}% reached`,
    body_text: text,
    body_html: html,
    attempts: 0,
    next_try_at: now,
    sent_at: null,
    given_up_at: null,
    last_error: null,
    created_at: now,
  }));
}

/**
 * Fires every threshold a budget's current period has reached but nobody claimed — the node
 * whose reservation crossed it died before claiming. Spend here leaves out every lease still
 * outstanding, so a sweep never fires early. Answers how many alerts it tried.
 */
export async function sweepAlerts(
  deps: AlertDeps,
  fire: (a: ReachedAlert) => Promise<void>,
): Promise<number> {
  const nowMs = deps.clock.nowMs();
  const rows = await deps.budgetsStore.scanForAlerts(
    new Date(nowMs - SWEEP_LOOKBACK_MS).toISOString(),
  );
  let tried = 0;
  for (const r of rows) {
    const rule = toRule(r.budget);
    const frequency =
      rule.period === 'billing'
        ? ((await deps.clientInfo(r.budget.client_id))?.frequency ?? 'weekly')
        : 'weekly';
    const p = periodBounds(rule.period, frequency, nowMs);
    if (new Date(p.start).toISOString() !== r.periodStart) continue;
    // A hard budget refused full has reached every threshold up to 100 %, even a few
    // micro-units short of its amount.
    const reached = reachedThresholds(rule.thresholds, rule.amountMicros, r.spentMicros);
    const full = r.full ? rule.thresholds.filter((t) => t <= 100) : [];
    const due = [...new Set([...reached, ...full])].filter((t) => !r.alerted.includes(t));
    for (const threshold of due) {
      tried++;
      await fire({
        clientId: r.budget.client_id,
        rule,
        periodStart: r.periodStart,
        periodEnd: new Date(p.end).toISOString(),
        threshold,
        spentMicros: r.spentMicros,
      });
    }
  }
  return tried;
}
