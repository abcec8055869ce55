import type { Logger } from '../infra/logger.ts';
import { reachedThresholds } from './budgets-fns.ts';
import type { BudgetsStore } from './budgets-store.ts';
import type { BudgetRule } from './budgets-types.ts';

export interface ReachedAlert {
  clientId: string;
  rule: BudgetRule;
  periodStart: string;
  periodEnd: string;
  threshold: number;
  spentMicros: number;
}

export interface AlertWatchDeps {
  budgetsStore: BudgetsStore;
  logger: Logger;
  /** Called (not awaited) for every threshold reached that this node has not claimed. */
  onReached: (alert: ReachedAlert) => Promise<void>;
  track: <T>(p: Promise<T>) => Promise<T>;
}

interface WatchCtx extends AlertWatchDeps {
  /** Alerts this node has seen claimed (by anyone): not claimed again. */
  claimed: Set<string>;
}

function check(
  ctx: WatchCtx,
  clientId: string,
  rule: BudgetRule,
  period: { start: string; end: number },
  spent: number,
  full: number[] = [],
): void {
  // Below the first threshold (most calls): nothing to do.
  if (!full.length && spent * 100 < (rule.thresholds[0] ?? Infinity) * rule.amountMicros) return;
  const reached = reachedThresholds(rule.thresholds, rule.amountMicros, spent);
  for (const threshold of new Set([...reached, ...full])) {
    const id = `${rule.id}|${period.start}|${threshold}`;
    if (ctx.claimed.has(id)) continue;
    ctx.claimed.add(id);
    if (ctx.claimed.size > 100_000) ctx.claimed.clear();
    const alert = {
      clientId,
      rule,
      periodStart: period.start,
      periodEnd: new Date(period.end).toISOString(),
      threshold,
      spentMicros: spent,
    };
    void ctx.track(ctx.onReached(alert)).catch((err: unknown) => {
      // Not claimed after all (storage away): the next reservation above it tries again.
      ctx.claimed.delete(id);
      ctx.logger.error({ err, budgetId: rule.id, threshold }, 'could not fire a budget alert');
    });
  }
}

/**
 * A hard budget that refused a call is full for it, even a few micro-units short of its
 * amount: its thresholds up to 100 % fire now (with the spend read back), once.
 */
function refusedFull(
  ctx: WatchCtx,
  clientId: string,
  rule: BudgetRule,
  period: { start: string; end: number },
): void {
  const due = rule.thresholds.filter(
    (t) => t <= 100 && !ctx.claimed.has(`${rule.id}|${period.start}|${t}`),
  );
  if (!due.length) return;
  void ctx.track(ctx.budgetsStore.spent(clientId, rule.id, period.start)).then(
    (spent) => check(ctx, clientId, rule, period, spent, due),
    (err: unknown) => ctx.logger.warn({ err, budgetId: rule.id }, 'could not read a full budget'),
  );
}

/** The thresholds a reservation reached, handed once per node to `onReached` (which claims). */
export function createAlertWatch(deps: AlertWatchDeps) {
  const ctx: WatchCtx = { ...deps, claimed: new Set() };
  return {
    check: (
      clientId: string,
      rule: BudgetRule,
      period: { start: string; end: number },
      spent: number,
    ) => check(ctx, clientId, rule, period, spent),
    refusedFull: (clientId: string, rule: BudgetRule, period: { start: string; end: number }) =>
      refusedFull(ctx, clientId, rule, period),
  };
}
