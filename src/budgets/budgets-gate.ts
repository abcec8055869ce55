import type { BillingFrequency } from '../billing/billing-types.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { AuthContext, MaybePromise } from '../keys/keys-types.ts';
import type { Clock } from '../lib/clock.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { periodBounds, reachedThresholds } from './budgets-fns.ts';
import type { BudgetsStore, ReserveItem } from './budgets-store.ts';
import type { BudgetDecision, BudgetHold, BudgetRule, BudgetsTable } from './budgets-types.ts';

export interface BudgetGateDeps {
  budgetsStore: BudgetsStore;
  clock: Clock;
  logger: Logger;
  changes: ChangeFeed | null;
  /** The same price book as metering and invoices (test keys cost nothing). */
  priceOf: (endpoint: string, environment: KeyEnvironment) => number;
  /** The client's invoice frequency, for `billing` budgets. */
  frequencyOf: (clientId: string) => Promise<BillingFrequency>;
  /** Called (not awaited) for every threshold a reservation reached that this node has not claimed. */
  onReached: (alert: ReachedAlert) => Promise<void>;
  /** How long a client's cached rules live without a change event (default 60 s). */
  rulesTtlMs?: number;
}

export interface ReachedAlert {
  clientId: string;
  rule: BudgetRule;
  periodStart: string;
  periodEnd: string;
  threshold: number;
  spentMicros: number;
}

interface ClientRules {
  rules: BudgetRule[];
  frequency: BillingFrequency;
  loadedAtMs: number;
}

export function toRule(row: BudgetsTable): BudgetRule {
  return {
    id: row.id,
    keyId: row.key_id,
    amountMicros: Number(row.amount_micros),
    period: row.period,
    mode: row.mode,
    thresholds: JSON.parse(row.thresholds) as number[],
  };
}

/**
 * The budget step of verification: reserve the call's price before it runs, settle after it.
 * A client without budgets costs one Set lookup (the set of clients with budgets is loaded at
 * start and kept current by the change feed); with budgets, one conditional UPDATE per budget.
 */
export function createBudgetGate(deps: BudgetGateDeps) {
  const { budgetsStore, clock, logger, priceOf } = deps;
  const ttl = deps.rulesTtlMs ?? 60_000;
  let withBudgets: Set<string> | null = null;
  let ready: Promise<void> = Promise.resolve();
  const rules = new Map<string, ClientRules>();
  /** Bumped on every change: a load that raced a change is not cached. */
  let generation = 0;
  /** Alerts this node has seen claimed (by anyone): not claimed again. Pruned per period. */
  const claimed = new Set<string>();
  const pending = new Set<Promise<unknown>>();

  function reloadAll(): void {
    generation++;
    rules.clear();
    withBudgets = null;
    const gen = generation;
    ready = budgetsStore.clientsWithBudgets().then(
      (ids) => {
        if (gen === generation) withBudgets = new Set(ids);
      },
      (err: unknown) => {
        logger.warn({ err }, 'could not load the clients with budgets; retrying');
        if (gen === generation) setTimeout(reloadAll, 1000).unref();
      },
    );
  }
  reloadAll();
  const unsubscribe = deps.changes?.subscribe((e) => {
    if (e.kind !== 'budget' && e.kind !== 'client') return;
    generation++;
    rules.delete(e.clientId);
    if (e.kind === 'budget') withBudgets?.add(e.clientId);
  });
  const unresync = deps.changes?.onResync(reloadAll);

  async function loadRules(clientId: string): Promise<ClientRules> {
    const gen = generation;
    const list = (await budgetsStore.list(clientId)).map(toRule);
    const frequency = list.some((r) => r.period === 'billing')
      ? await deps.frequencyOf(clientId)
      : 'weekly';
    const entry = { rules: list, frequency, loadedAtMs: clock.nowMs() };
    if (gen === generation) rules.set(clientId, entry);
    return entry;
  }

  function track<T>(p: Promise<T>): Promise<T> {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  }

  function reserve(
    auth: AuthContext,
    endpoint: string | undefined,
  ): MaybePromise<BudgetDecision | null> {
    if (auth.environment === 'test' || endpoint === undefined) return null;
    if (withBudgets === null) return ready.then(() => reserve(auth, endpoint));
    if (!withBudgets.has(auth.clientId)) return null;
    const nowMs = clock.nowMs();
    const entry = rules.get(auth.clientId);
    if (!entry || nowMs - entry.loadedAtMs > ttl) {
      return loadRules(auth.clientId).then((e) => reserveWith(e, auth, endpoint, nowMs));
    }
    return reserveWith(entry, auth, endpoint, nowMs);
  }

  function reserveWith(
    entry: ClientRules,
    auth: AuthContext,
    endpoint: string,
    nowMs: number,
  ): MaybePromise<BudgetDecision | null> {
    const applicable = entry.rules.filter((r) => r.keyId === null || r.keyId === auth.keyId);
    if (!applicable.length) return null;
    const price = priceOf(endpoint, auth.environment);
    // A free call cannot exceed anything: nothing to reserve.
    if (price === 0) return null;
    const periods = applicable.map((r) => periodBounds(r.period, entry.frequency, nowMs));
    const items: ReserveItem[] = applicable.map((r, i) => ({
      budgetId: r.id,
      periodStart: new Date(periods[i]!.start).toISOString(),
      micros: price,
      limit: r.mode === 'hard' ? r.amountMicros : null,
    }));
    const decide = (r: Awaited<ReturnType<BudgetsStore['reserve']>>): BudgetDecision => {
      if (!r.ok) {
        const i = r.refused;
        refusedFull(auth.clientId, applicable[i]!, items[i]!.periodStart, periods[i]!.end);
        return { allowed: false, budgetId: items[i]!.budgetId, resetAt: periods[i]!.end };
      }
      applicable.forEach((rule, i) =>
        checkAlerts(auth.clientId, rule, items[i]!.periodStart, periods[i]!.end, r.spent[i]!),
      );
      const hold: BudgetHold = {
        clientId: auth.clientId,
        priceMicros: price,
        items: items.map((it) => ({ budgetId: it.budgetId, periodStart: it.periodStart })),
      };
      return { allowed: true, hold };
    };
    const now = budgetsStore.reserveNow(auth.clientId, items);
    if (now) return decide({ ok: true, spent: now });
    return track(budgetsStore.reserve(auth.clientId, items)).then(decide);
  }

  /**
   * A hard budget that refused a call is full for it, even a few micro-units short of its
   * amount: its thresholds up to 100 % fire now (with the spend read back), once.
   */
  function refusedFull(clientId: string, rule: BudgetRule, periodStart: string, periodEnd: number) {
    const due = rule.thresholds.filter(
      (t) => t <= 100 && !claimed.has(`${rule.id}|${periodStart}|${t}`),
    );
    if (!due.length) return;
    void track(budgetsStore.spent(clientId, rule.id, periodStart)).then(
      (spent) => checkAlerts(clientId, rule, periodStart, periodEnd, spent, due),
      (err: unknown) => logger.warn({ err, budgetId: rule.id }, 'could not read a full budget'),
    );
  }

  function checkAlerts(
    clientId: string,
    rule: BudgetRule,
    periodStart: string,
    periodEnd: number,
    spent: number,
    full: number[] = [],
  ) {
    const reached = reachedThresholds(rule.thresholds, rule.amountMicros, spent);
    for (const threshold of new Set([...reached, ...full])) {
      const id = `${rule.id}|${periodStart}|${threshold}`;
      if (claimed.has(id)) continue;
      claimed.add(id);
      if (claimed.size > 100_000) claimed.clear();
      const alert = {
        clientId,
        rule,
        periodStart,
        periodEnd: new Date(periodEnd).toISOString(),
        threshold,
        spentMicros: spent,
      };
      void track(deps.onReached(alert)).catch((err: unknown) => {
        // Not claimed after all (storage away): the next reservation above it tries again.
        claimed.delete(id);
        logger.error({ err, budgetId: rule.id, threshold }, 'could not fire a budget alert');
      });
    }
  }

  /**
   * After the call: a server error (5xx) is not priced, so its reservation is given back; any
   * other status costs what was reserved (the same price book entry).
   */
  function settle(hold: BudgetHold, status: number): void {
    if (status < 500) return;
    for (const item of hold.items) {
      void track(
        budgetsStore.release(hold.clientId, item.budgetId, item.periodStart, hold.priceMicros),
      ).catch((err: unknown) =>
        logger.error({ err, budgetId: item.budgetId }, 'could not give back a budget reservation'),
      );
    }
  }

  /** Gives a whole reservation back (a later step of verification refused the call). */
  function cancel(hold: BudgetHold): void {
    settle(hold, 599);
  }

  return {
    reserve,
    settle,
    cancel,
    /** Waits for reservations, refunds and alerts under way (graceful stop, tests). */
    async drain(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
    ready: () => ready,
    /** Whether this node knows the client has budgets (a change reaches every node within 1 s). */
    watches: (clientId: string) => withBudgets?.has(clientId) ?? false,
    close(): void {
      unsubscribe?.();
      unresync?.();
    },
  };
}

export type BudgetGate = ReturnType<typeof createBudgetGate>;
