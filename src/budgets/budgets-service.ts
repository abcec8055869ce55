import type { Actor, AuditService } from '../audit/index.ts';
import type { BillingFrequency } from '../billing/index.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { Clock } from '../lib/clock.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { fireAlert, sweepAlerts } from './budgets-alert-fire.ts';
import { sendDueAlertMails } from './budgets-alert-mail.ts';
import * as admin from './budgets-admin.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import { createBudgetGate, type ReachedAlert } from './budgets-gate.ts';
import * as reservations from './budgets-reservations.ts';
import type { BudgetsStore } from './budgets-store.ts';
import type { BudgetInput, BudgetPatch } from './budgets-input.ts';

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
  /** How long a reservation made through POST /admin/v1/verify waits for its report (default 300 s). */
  reservationTimeoutMs?: number;
}

/**
 * Budgets: a money limit per period on a client or a key (CRUD, spend so far), the hot-path
 * gate that reserves and settles each call, and the alerts at each threshold.
 */
export function createBudgetsService(deps: BudgetsServiceDeps) {
  const { budgetsStore, clock, logger } = deps;
  const fire = (a: ReachedAlert) => fireAlert(deps, a);
  // Unclaimed thresholds first, then every alert email due (a retry, or one a stopped node
  // never sent), whichever node queued it.
  const sweep = async () => {
    const tried = await sweepAlerts(deps, fire);
    await sendDueAlertMails(deps);
    return tried;
  };

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
  const ctx: admin.AdminCtx = { deps, gate };
  const held = reservations.createReservations({
    store: budgetsStore,
    gate,
    clock,
    logger,
    priceOf: deps.priceOf,
    timeoutMs: deps.reservationTimeoutMs ?? 300_000,
  });

  // Thresholds reached but never claimed (their node died first) fire within a minute.
  let sweeping: Promise<unknown> = Promise.resolve();
  // Holds of nodes that died go back to their budgets even when no call asks.
  const sweeper = setInterval(() => {
    sweeping = gate
      .reclaimSilent()
      .then(held.releaseExpiredReservations)
      .then(sweep)
      .catch((err: unknown) => logger.warn({ err }, 'budget alert sweep failed'));
  }, ALERT_SWEEP_MS);
  sweeper.unref();

  return {
    gate,

    /**
     * Fires the thresholds reached that nobody claimed and sends the alert emails due (also
     * run every ALERT_SWEEP_MS).
     */
    sweepAlerts: sweep,

    ...held,

    create: (clientId: string, input: BudgetInput, actor: Actor) =>
      admin.create(ctx, clientId, input, actor),
    /** Every budget of a client (client-wide and per key), with the current period's spend. */
    list: (clientId: string) => admin.list(ctx, clientId),
    listForKey: (clientId: string, keyId: string) => admin.listForKey(ctx, clientId, keyId),
    get: (clientId: string, id: string) => admin.get(ctx, clientId, id),
    update: (clientId: string, id: string, patch: BudgetPatch, actor: Actor) =>
      admin.update(ctx, clientId, id, patch, actor),
    delete: (clientId: string, id: string, actor: Actor) => admin.remove(ctx, clientId, id, actor),
    /** A deleted client's budgets go with it. */
    forgetClient: (clientId: string) => admin.forgetClient(ctx, clientId),

    async close(): Promise<void> {
      clearInterval(sweeper);
      await gate.close();
      await sweeping;
      await gate.drain();
      await gate.releaseLeases();
    },
  };
}

export type BudgetsService = ReturnType<typeof createBudgetsService>;
