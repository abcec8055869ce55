import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { BillingFrequency } from '../billing/billing-types.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { isIdOf, newId } from '../lib/ids.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { formatMicros } from '../lib/money.ts';
import { fireAlert, sweepAlerts } from './budgets-alert-fire.ts';
import type { EmitEvent } from '../webhooks/webhooks-service.ts';
import { amountOf, normalizeThresholds, periodBounds } from './budgets-fns.ts';
import { createBudgetGate, toRule, type ReachedAlert } from './budgets-gate.ts';
import type { BudgetsStore } from './budgets-store.ts';
import {
  BUDGET_MODES,
  BUDGET_PERIODS,
  type Budget,
  type BudgetInput,
  type BudgetPatch,
  type BudgetsTable,
} from './budgets-types.ts';
import { checkEnum } from '../lib/check.ts';

/** What budgets need to know of a client (asked of the clients and billing services). */
export interface BudgetClientInfo {
  name: string;
  currency: string;
  frequency: BillingFrequency;
  /** where alerts go: the billing email, else the client's email */
  alertEmail: string | null;
}

/** How often each node sweeps for alerts nobody claimed. */
export const ALERT_SWEEP_MS = 30_000;

export interface BudgetsServiceDeps {
  budgetsStore: BudgetsStore;
  audit: AuditService;
  clock: Clock;
  logger: Logger;
  changes: ChangeFeed | null;
  priceOf: (endpoint: string, environment: KeyEnvironment) => number;
  /** null: no such client (or deleted) */
  clientInfo: (clientId: string) => Promise<BudgetClientInfo | null>;
  /** true when keyId is a key of clientId */
  keyExists: (clientId: string, keyId: string) => Promise<boolean>;
  mailer: Mailer;
  operatorEmail: string | null;
  emit?: EmitEvent;
  rulesTtlMs?: number;
}

/**
 * Budgets: a money limit per period on a client or a key (CRUD, spend so far), the hot-path
 * gate that reserves and settles each call, and the alerts at each threshold.
 */
export function createBudgetsService(deps: BudgetsServiceDeps) {
  const { budgetsStore, audit, clock, logger } = deps;
  const fire = (a: ReachedAlert) => fireAlert(deps, a);

  const gate = createBudgetGate({
    budgetsStore,
    clock,
    logger,
    changes: deps.changes,
    priceOf: deps.priceOf,
    frequencyOf: async (clientId) => (await deps.clientInfo(clientId))?.frequency ?? 'weekly',
    onReached: fire,
    rulesTtlMs: deps.rulesTtlMs,
  });

  async function mustClient(clientId: string): Promise<BudgetClientInfo> {
    const info = isIdOf('client', clientId) ? await deps.clientInfo(clientId) : null;
    if (!info) throw new AppError('not_found', 'client not found');
    return info;
  }

  async function mustFind(clientId: string, id: string): Promise<BudgetsTable> {
    const row = isIdOf('budget', id) ? await budgetsStore.find(clientId, id) : null;
    if (!row) throw new AppError('not_found', 'budget not found');
    return row;
  }

  async function toBudget(row: BudgetsTable, info: BudgetClientInfo): Promise<Budget> {
    const rule = toRule(row);
    const p = periodBounds(rule.period, info.frequency, clock.nowMs());
    const periodStart = new Date(p.start).toISOString();
    const [reserved, alerted] = await Promise.all([
      budgetsStore.spent(row.client_id, row.id, periodStart),
      budgetsStore.alerted(row.client_id, row.id, periodStart),
    ]);
    // This node's lease is reserved, not spent: what it still holds is not shown as spend.
    const spent = Math.max(0, reserved - gate.unspent(row.id, periodStart));
    return {
      id: row.id,
      clientId: row.client_id,
      keyId: row.key_id,
      amountMicros: rule.amountMicros,
      amount: formatMicros(rule.amountMicros),
      currency: info.currency,
      period: rule.period,
      mode: rule.mode,
      thresholds: rule.thresholds,
      current: {
        periodStart,
        periodEnd: new Date(p.end).toISOString(),
        spentMicros: spent,
        spent: formatMicros(spent),
        remainingMicros: Math.max(0, rule.amountMicros - spent),
        alerted,
      },
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  async function changed(clientId: string, id: string): Promise<void> {
    await deps.changes?.publish({ kind: 'budget', id, clientId });
  }

  // Thresholds reached but never claimed (their node died first) fire within a minute.
  const sweeper = setInterval(() => {
    void sweepAlerts(deps, fire).catch((err: unknown) =>
      logger.warn({ err }, 'budget alert sweep failed'),
    );
  }, ALERT_SWEEP_MS);
  sweeper.unref();

  return {
    gate,

    /** Fires the thresholds reached that nobody claimed (also run every ALERT_SWEEP_MS). */
    sweepAlerts: () => sweepAlerts(deps, fire),

    async create(clientId: string, input: BudgetInput, actor: Actor): Promise<Budget> {
      const info = await mustClient(clientId);
      const keyId = input.keyId ?? null;
      if (keyId !== null && !(isIdOf('key', keyId) && (await deps.keyExists(clientId, keyId)))) {
        throw new AppError('not_found', 'key not found');
      }
      const iso = clock.now().toISOString();
      const row: BudgetsTable = {
        id: newId('budget'),
        client_id: clientId,
        key_id: keyId,
        amount_micros: amountOf(input),
        period: checkEnum('period', input.period, BUDGET_PERIODS),
        mode: checkEnum('mode', input.mode, BUDGET_MODES),
        thresholds: JSON.stringify(normalizeThresholds(input.thresholds)),
        created_at: iso,
        updated_at: iso,
      };
      await budgetsStore.insert(row);
      await changed(clientId, row.id);
      await audit.record({
        actor,
        action: 'budget.created',
        targetType: 'budget',
        targetId: row.id,
        clientId,
        data: { keyId, amountMicros: row.amount_micros, period: row.period, mode: row.mode },
      });
      return toBudget(row, info);
    },

    /** Every budget of a client (client-wide and per key), with the current period's spend. */
    async list(clientId: string): Promise<Budget[]> {
      const info = await mustClient(clientId);
      const rows = await budgetsStore.list(clientId);
      return Promise.all(rows.map((r) => toBudget(r, info)));
    },

    async listForKey(clientId: string, keyId: string): Promise<Budget[]> {
      if (!(isIdOf('key', keyId) && (await deps.keyExists(clientId, keyId)))) {
        throw new AppError('not_found', 'key not found');
      }
      return (await this.list(clientId)).filter((b) => b.keyId === keyId);
    },

    async get(clientId: string, id: string): Promise<Budget> {
      const info = await mustClient(clientId);
      return toBudget(await mustFind(clientId, id), info);
    },

    async update(clientId: string, id: string, patch: BudgetPatch, actor: Actor): Promise<Budget> {
      const info = await mustClient(clientId);
      await mustFind(clientId, id);
      const set: Partial<BudgetsTable> = { updated_at: clock.now().toISOString() };
      if (patch.amount !== undefined || patch.amountMicros !== undefined) {
        set.amount_micros = amountOf(patch);
      }
      if (patch.mode !== undefined) set.mode = checkEnum('mode', patch.mode, BUDGET_MODES);
      if (patch.thresholds !== undefined) {
        set.thresholds = JSON.stringify(normalizeThresholds(patch.thresholds));
      }
      await budgetsStore.update(clientId, id, set);
      await changed(clientId, id);
      await audit.record({
        actor,
        action: 'budget.updated',
        targetType: 'budget',
        targetId: id,
        clientId,
        data: { amountMicros: set.amount_micros, mode: set.mode, thresholds: patch.thresholds },
      });
      return toBudget(await mustFind(clientId, id), info);
    },

    async delete(clientId: string, id: string, actor: Actor): Promise<void> {
      await mustFind(clientId, id);
      if (await budgetsStore.delete(clientId, id)) {
        await changed(clientId, id);
        await audit.record({
          actor,
          action: 'budget.deleted',
          targetType: 'budget',
          targetId: id,
          clientId,
        });
      }
    },

    /** A deleted client's budgets go with it. */
    async forgetClient(clientId: string): Promise<void> {
      await budgetsStore.deleteAllForClient(clientId);
      await changed(clientId, clientId);
    },

    async close(): Promise<void> {
      clearInterval(sweeper);
      gate.close();
      await gate.drain();
      await gate.releaseLeases();
    },
  };
}

export type BudgetsService = ReturnType<typeof createBudgetsService>;
