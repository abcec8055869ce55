import type { KeyEnvironment } from '../lib/key-format.ts';
import type { BudgetPeriod, BudgetMode } from '../store/tables/budgets.ts';
export { BUDGET_PERIODS, BUDGET_MODES } from '../store/tables/budgets.ts';
export type {
  BudgetPeriod,
  BudgetMode,
  BudgetsTable,
  BudgetSpendTable,
  BudgetAlertsTable,
  BudgetAlertMailsTable,
  BudgetLeasesTable,
  BudgetReservationsTable,
  BudgetsTables,
} from '../store/tables/budgets.ts';

/** Percentages of the amount at which an alert fires, once per budget per period. */
export const DEFAULT_THRESHOLDS = [50, 80, 100];

/** A budget as the API shows it, with the current period's spend. */
export interface Budget {
  id: string;
  clientId: string;
  keyId: string | null;
  amountMicros: number;
  amount: string;
  currency: string;
  period: BudgetPeriod;
  mode: BudgetMode;
  thresholds: number[];
  current: {
    periodStart: string;
    periodEnd: string;
    spentMicros: number;
    spent: string;
    remainingMicros: number;
    /** thresholds already alerted this period */
    alerted: number[];
  };
  createdAt: string;
  updatedAt: string;
}

/** What the hot path holds of a budget (cached per client). */
export interface BudgetRule {
  id: string;
  keyId: string | null;
  amountMicros: number;
  period: BudgetPeriod;
  mode: BudgetMode;
  thresholds: number[];
}

/** Who makes a call, as far as budgets care (keys' verified AuthContext has these fields). */
export interface BudgetCaller {
  clientId: string;
  keyId: string;
  environment: KeyEnvironment;
}

/**
 * A reservation made before a call: settled after it with the real status (the call's price
 * may be lower: a server error costs nothing, so the difference is given back).
 */
export interface BudgetHold {
  clientId: string;
  priceMicros: number;
  /**
   * `epoch`: of this node's hold the reservation is in (its settlement names it); `lease`: the
   * reservation came out of this node's lease (a refund goes back into it)
   */
  items: Array<{
    budgetId: string;
    periodStart: string;
    epoch: number;
    lease?: BudgetLease | null;
  }>;
}

/** This node's lease on one budget's period (see BudgetLeasesTable). */
export interface BudgetLease {
  id: string;
  /** of this node's hold the lease is in */
  epoch: number;
  granted: number;
  /** not spent yet */
  left: number;
  /** the period's spend before this lease, when it was granted */
  base: number;
  expiresAtMs: number;
  /** false once it is being given back: nothing more is taken from it */
  open: boolean;
  /** the account its calls settle under in usage batches (named on first use) */
  account?: string;
}

/** What the verification step answers: a hold, or a refusal naming the budget. */
export type BudgetDecision =
  { allowed: true; hold: BudgetHold } | { allowed: false; budgetId: string; resetAt: number };
