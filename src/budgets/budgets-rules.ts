import type { BillingFrequency } from '../billing/index.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { MaybePromise } from '../lib/maybe-promise.ts';
import type { Clock } from '../lib/clock.ts';
import type { BudgetsStore } from './budgets-store.ts';
import type { BudgetRule, BudgetsTable } from './budgets-types.ts';

export interface ClientRules {
  rules: BudgetRule[];
  frequency: BillingFrequency;
  loadedAtMs: number;
}

export interface BudgetRulesDeps {
  budgetsStore: BudgetsStore;
  clock: Clock;
  logger: Logger;
  changes: ChangeFeed | null;
  frequencyOf: (clientId: string) => Promise<BillingFrequency>;
  rulesTtlMs?: number;
  /** A client's budgets changed (this node or another). */
  onChange: (clientId: string) => void;
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

interface RulesCtx {
  deps: BudgetRulesDeps;
  withBudgets: Set<string> | null;
  ready: Promise<void>;
  rules: Map<string, ClientRules>;
  /** Bumped on every change: a load that raced a change is not cached. */
  generation: number;
  /** Set by close: no load starts or retries after it (the database is about to go). */
  closed: boolean;
}

function reloadAll(ctx: RulesCtx): void {
  if (ctx.closed) return;
  ctx.generation++;
  ctx.rules.clear();
  ctx.withBudgets = null;
  const gen = ctx.generation;
  ctx.ready = ctx.deps.budgetsStore.clientsWithBudgets().then(
    (ids) => {
      if (gen === ctx.generation) ctx.withBudgets = new Set(ids);
    },
    (err: unknown) => {
      if (ctx.closed) return;
      ctx.deps.logger.warn({ err }, 'could not load the clients with budgets; retrying');
      if (gen === ctx.generation) setTimeout(() => reloadAll(ctx), 1000).unref();
    },
  );
}

async function loadRules(ctx: RulesCtx, clientId: string): Promise<ClientRules> {
  const gen = ctx.generation;
  const list = (await ctx.deps.budgetsStore.list(clientId)).map(toRule);
  const frequency = list.some((r) => r.period === 'billing')
    ? await ctx.deps.frequencyOf(clientId)
    : 'weekly';
  const entry = { rules: list, frequency, loadedAtMs: ctx.deps.clock.nowMs() };
  if (gen === ctx.generation) ctx.rules.set(clientId, entry);
  return entry;
}

function rulesFor(ctx: RulesCtx, clientId: string): MaybePromise<ClientRules | null> {
  if (ctx.withBudgets === null) return ctx.ready.then(() => rulesFor(ctx, clientId));
  if (!ctx.withBudgets.has(clientId)) return null;
  const entry = ctx.rules.get(clientId);
  const ttl = ctx.deps.rulesTtlMs ?? 60_000;
  if (!entry || ctx.deps.clock.nowMs() - entry.loadedAtMs > ttl) return loadRules(ctx, clientId);
  return entry;
}

/**
 * Which clients have budgets, and each one's rules: the set is loaded at start and kept
 * current by the change feed, so a client without budgets costs one Set lookup.
 */
export function createBudgetRules(deps: BudgetRulesDeps) {
  const ctx: RulesCtx = {
    deps,
    withBudgets: null,
    ready: Promise.resolve(),
    rules: new Map(),
    generation: 0,
    closed: false,
  };
  reloadAll(ctx);
  const unsubscribe = deps.changes?.subscribe((e) => {
    if (e.kind !== 'budget' && e.kind !== 'client') return;
    ctx.generation++;
    ctx.rules.delete(e.clientId);
    if (e.kind === 'budget') ctx.withBudgets?.add(e.clientId);
    deps.onChange(e.clientId);
  });
  const unresync = deps.changes?.onResync(() => reloadAll(ctx));
  return {
    rulesFor: (clientId: string) => rulesFor(ctx, clientId),
    ready: () => ctx.ready,
    /** Whether this node knows the client has budgets (a change reaches every node within 1 s). */
    watches: (clientId: string) => ctx.withBudgets?.has(clientId) ?? false,
    /** Stops listening and waits for a load under way, so none outlives the database. */
    async close(): Promise<void> {
      ctx.closed = true;
      unsubscribe?.();
      unresync?.();
      await ctx.ready;
    },
  };
}
