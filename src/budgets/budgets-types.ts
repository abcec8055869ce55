/**
 * Budgets (issue 16): a money limit per period on a client (every key) or on one key, in the
 * client's currency (integer micro-units), priced from the same price book as invoices.
 */

/** `billing`: the client's invoice period (ISO week, or the month for monthly clients). */
export const BUDGET_PERIODS = ['day', 'week', 'month', 'billing'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** `hard`: a call that would exceed it is refused; `soft`: alerts only. */
export const BUDGET_MODES = ['hard', 'soft'] as const;
export type BudgetMode = (typeof BUDGET_MODES)[number];

/** Percentages of the amount at which an alert fires, once per budget per period. */
export const DEFAULT_THRESHOLDS = [50, 80, 100];

export interface BudgetsTable {
  id: string;
  client_id: string;
  /** null: the whole client (every key); else one key of the client */
  key_id: string | null;
  amount_micros: number;
  period: BudgetPeriod;
  mode: BudgetMode;
  /** JSON number[] of percentages, ascending */
  thresholds: string;
  created_at: string;
  updated_at: string;
}

/** The spend of one budget in one period: reserved before a call, corrected after it. */
export interface BudgetSpendTable {
  budget_id: string;
  /** ISO start of the period */
  period_start: string;
  client_id: string;
  spent_micros: number;
}

/** One row per alert fired: the primary key makes each fire once, whichever node crossed it. */
export interface BudgetAlertsTable {
  budget_id: string;
  period_start: string;
  threshold: number;
  client_id: string;
  spent_micros: number;
  fired_at: string;
}

/**
 * A slice of a budget's period reserved by one node (counted in `budget_spend` from the moment
 * it is granted) and spent by it without a query; what it did not spend goes back.
 */
export interface BudgetLeasesTable {
  lease_id: string;
  budget_id: string;
  period_start: string;
  client_id: string;
  node_id: string;
  micros: number;
  /** ISO: the node stops using it then and gives the rest back */
  expires_at: string;
}

export interface BudgetsTables {
  budgets: BudgetsTable;
  budget_spend: BudgetSpendTable;
  budget_alerts: BudgetAlertsTable;
  budget_leases: BudgetLeasesTable;
}

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

export interface BudgetInput {
  keyId?: string | null;
  /** currency units, a number or a decimal string (at most 6 decimals) */
  amount?: number | string;
  amountMicros?: number;
  period: BudgetPeriod;
  mode: BudgetMode;
  thresholds?: number[];
}

export interface BudgetPatch {
  amount?: number | string;
  amountMicros?: number;
  mode?: BudgetMode;
  thresholds?: number[];
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

/**
 * A reservation made before a call: settled after it with the real status (the call's price
 * may be lower: a server error costs nothing, so the difference is given back).
 */
export interface BudgetHold {
  clientId: string;
  priceMicros: number;
  /** `lease`: the reservation came out of this node's lease (a refund goes back into it) */
  items: Array<{ budgetId: string; periodStart: string; lease?: BudgetLease | null }>;
}

/** This node's lease on one budget's period (see BudgetLeasesTable). */
export interface BudgetLease {
  id: string;
  granted: number;
  /** not spent yet */
  left: number;
  /** the period's spend before this lease, when it was granted */
  base: number;
  expiresAtMs: number;
  /** false once it is being given back: nothing more is taken from it */
  open: boolean;
}

/** What the verification step answers: a hold, or a refusal naming the budget. */
export type BudgetDecision =
  { allowed: true; hold: BudgetHold } | { allowed: false; budgetId: string; resetAt: number };
