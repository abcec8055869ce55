import type { BillingFrequency } from '../billing/index.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { MaybePromise } from '../lib/maybe-promise.ts';
import { createAlertWatch, type ReachedAlert } from './budgets-alert-watch.ts';
import { periodBounds } from './budgets-fns.ts';
import { holdAccount } from './budgets-hold-store.ts';
import {
  HOLD_HEARTBEAT_MS,
  heartbeat,
  keepHold,
  newNodeId,
  reclaimSilent,
  refund,
  reserveAll,
  reserveOne,
  retireAll,
  unspent,
  type LeaseCtx,
  type Reserved,
} from './budgets-leases.ts';
import { createBudgetRules, type ClientRules } from './budgets-rules.ts';
import type { BudgetsStore, ReserveItem } from './budgets-store.ts';
import type {
  BudgetCaller,
  BudgetDecision,
  BudgetHold,
  BudgetLease,
  BudgetRule,
} from './budgets-types.ts';

export { toRule } from './budgets-rules.ts';
export type { ReachedAlert } from './budgets-alert-watch.ts';

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

interface GateCtx {
  deps: BudgetGateDeps;
  rules: ReturnType<typeof createBudgetRules>;
  alerts: ReturnType<typeof createAlertWatch>;
  leases: LeaseCtx;
  track: <T>(p: Promise<T>) => Promise<T>;
  /** The current period of each kind, by `period|frequency` */
  periods: Map<string, Period>;
}

interface Period {
  startMs: number;
  /** ISO */
  start: string;
  /** epoch ms, exclusive */
  end: number;
}

/** One call's reservation: the budgets that apply, their periods and what is reserved. */
interface Call {
  clientId: string;
  price: number;
  applicable: BudgetRule[];
  periods: Array<{ start: string; end: number }>;
  items: ReserveItem[];
}

/** The period containing nowMs, computed once per period (a handful: one per kind in use). */
function periodOf(
  ctx: GateCtx,
  period: BudgetRule['period'],
  frequency: BillingFrequency,
  nowMs: number,
): Period {
  const key = `${period}|${frequency}`;
  const hit = ctx.periods.get(key);
  if (hit && nowMs >= hit.startMs && nowMs < hit.end) return hit;
  const p = periodBounds(period, frequency, nowMs);
  const fresh = { startMs: p.start, start: new Date(p.start).toISOString(), end: p.end };
  ctx.periods.set(key, fresh);
  return fresh;
}

function reserve(
  ctx: GateCtx,
  auth: BudgetCaller,
  endpoint: string | undefined,
): MaybePromise<BudgetDecision | null> {
  if (auth.environment === 'test' || endpoint === undefined) return null;
  const entry = ctx.rules.rulesFor(auth.clientId);
  if (entry === null) return null;
  if (entry instanceof Promise) {
    return entry.then((e) => (e ? reserveWith(ctx, e, auth, endpoint) : null));
  }
  return reserveWith(ctx, entry, auth, endpoint);
}

function reserveWith(
  ctx: GateCtx,
  entry: ClientRules,
  auth: BudgetCaller,
  endpoint: string,
): MaybePromise<BudgetDecision | null> {
  const applicable = entry.rules.filter((r) => r.keyId === null || r.keyId === auth.keyId);
  if (!applicable.length) return null;
  const price = ctx.deps.priceOf(endpoint, auth.environment);
  // A free call cannot exceed anything: nothing to reserve.
  if (price === 0) return null;
  const nowMs = ctx.deps.clock.nowMs();
  const periods = applicable.map((r) => periodOf(ctx, r.period, entry.frequency, nowMs));
  const items: ReserveItem[] = applicable.map((r, i) => ({
    budgetId: r.id,
    periodStart: periods[i]!.start,
    micros: price,
    limit: r.mode === 'hard' ? r.amountMicros : null,
  }));
  const call: Call = { clientId: auth.clientId, price, applicable, periods, items };
  if (items.length === 1) {
    const r = reserveOne(ctx.leases, auth.clientId, items[0]!);
    return r instanceof Promise ? r.then((x) => decideOne(ctx, call, x)) : decideOne(ctx, call, r);
  }
  return ctx
    .track(reserveAll(ctx.leases, auth.clientId, items))
    .then((r) =>
      r.ok ? allowed(ctx, call, r.spent, r.epochs, []) : refused(ctx, call, r.refused),
    );
}

function decideOne(ctx: GateCtx, call: Call, r: Reserved): BudgetDecision {
  return r.ok ? allowed(ctx, call, [r.spent], [r.epoch], [r.lease]) : refused(ctx, call, 0);
}

function refused(ctx: GateCtx, call: Call, i: number): BudgetDecision {
  ctx.alerts.refusedFull(call.clientId, call.applicable[i]!, call.periods[i]!);
  return { allowed: false, budgetId: call.items[i]!.budgetId, resetAt: call.periods[i]!.end };
}

function allowed(
  ctx: GateCtx,
  call: Call,
  spent: number[],
  epochs: number[],
  leases: Array<BudgetLease | null>,
): BudgetDecision {
  call.applicable.forEach((rule, i) =>
    ctx.alerts.check(call.clientId, rule, call.periods[i]!, spent[i]!),
  );
  const hold: BudgetHold = {
    clientId: call.clientId,
    priceMicros: call.price,
    items: call.items.map((it, i) => ({
      budgetId: it.budgetId,
      periodStart: it.periodStart,
      epoch: epochs[i]!,
      lease: leases[i] ?? null,
    })),
  };
  return { allowed: true, hold };
}

/** A metered call's cost under one of this node's holds (usage sums them per batch). */
export interface HoldSettlement {
  account: string;
  micros: number;
}

/**
 * After the call: a server error (5xx) is not priced, so its reservation is given back; any
 * other status costs what was reserved (the same price book entry), and the answer is what
 * the usage batch metering the call must settle in its transaction (see budgets-hold-store.ts).
 */
function settle(ctx: GateCtx, hold: BudgetHold, status: number): HoldSettlement[] | undefined {
  if (status >= 500) {
    for (const item of hold.items) refund(ctx.leases, hold.clientId, item, hold.priceMicros);
    return undefined;
  }
  const nodeId = ctx.leases.nodeId;
  return hold.items.map((it) => {
    // Every call of a lease settles under the same account: named once per lease.
    const account = it.lease
      ? (it.lease.account ??= holdAccount({ clientId: hold.clientId, nodeId, ...it }))
      : holdAccount({ clientId: hold.clientId, nodeId, ...it });
    return { account, micros: hold.priceMicros };
  });
}

/**
 * The budget step of verification: reserve the call's price before it runs, settle after it.
 * A client without budgets costs one Set lookup; with budgets, most calls take their price out
 * of this node's lease without a query (see budgets-leases.ts for the bound).
 */
export function createBudgetGate(deps: BudgetGateDeps) {
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => undefined);
    return p;
  };
  const leases: LeaseCtx = {
    ...deps,
    store: deps.budgetsStore,
    nodeId: newNodeId(),
    states: new Map(),
    track,
  };
  const rules = createBudgetRules({
    ...deps,
    onChange: (clientId) => void retireAll(leases, clientId),
  });
  const alerts = createAlertWatch({ ...deps, track });
  const ctx: GateCtx = { deps, rules, alerts, leases, track, periods: new Map() };
  const beat = setInterval(() => {
    void heartbeat(leases).catch((err: unknown) =>
      deps.logger.warn({ err }, 'could not keep the budget holds alive'),
    );
  }, HOLD_HEARTBEAT_MS);
  beat.unref();
  return {
    reserve: (auth: BudgetCaller, endpoint: string | undefined) => reserve(ctx, auth, endpoint),
    settle: (hold: BudgetHold, status: number) => settle(ctx, hold, status),
    /**
     * A reservation made durable (it waits for a usage report, maybe to another node): the
     * holds it is in, kept alive by this node until `untilMs`.
     */
    keep: (hold: BudgetHold, untilMs: number) =>
      hold.items.map((it) => {
        keepHold(leases, hold.clientId, it, untilMs);
        const { budgetId, periodStart, epoch } = it;
        return { budgetId, periodStart, epoch, nodeId: leases.nodeId };
      }),
    /** Gives a whole reservation back (a later step of verification refused the call). */
    cancel: (hold: BudgetHold) => void settle(ctx, hold, 599),
    /** What this node has reserved on a budget's period and not spent yet (its lease). */
    unspent: (budgetId: string, periodStart: string) => unspent(leases, budgetId, periodStart),
    /** Waits for reservations, refunds and alerts under way (graceful stop, tests). */
    async drain(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
    /** Gives back the holds of nodes that fell silent (died); run by the sweep. */
    reclaimSilent: () => reclaimSilent(leases),
    /** Gives every lease of this node back (graceful stop). */
    releaseLeases: () => retireAll(leases, null),
    ready: () => rules.ready(),
    watches: (clientId: string) => rules.watches(clientId),
    close: () => {
      clearInterval(beat);
      return rules.close();
    },
  };
}

export type BudgetGate = ReturnType<typeof createBudgetGate>;
