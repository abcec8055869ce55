/**
 * The budgets tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
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
  /** ISO: when a hard budget first refused a call for lack of room (counts as 100 % reached) */
  full_at?: string | null;
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

/**
 * What one node has reserved on a budget's period and not yet seen metered (counted in
 * `budget_spend` too). A reservation leaves it in the transaction of the usage batch that
 * meters its call, or when it is given back; a node that stops writes is given its hold back.
 */
export interface BudgetHoldsTable {
  budget_id: string;
  period_start: string;
  node_id: string;
  client_id: string;
  /** changes when the hold is given back for a silent node (late settlements then add) */
  epoch: number;
  held_micros: number;
  /** ISO: the node's last write or heartbeat */
  seen_at: string;
}

/** One alert email to one recipient: durable, so any node sends or retries it. */
export interface BudgetAlertMailsTable {
  budget_id: string;
  period_start: string;
  threshold: number;
  to_address: string;
  client_id: string;
  subject: string;
  body_text: string;
  body_html: string;
  /** tries so far */
  attempts: number;
  /** ISO: due then (a node sending it moves it on first); null once sent or given up */
  next_try_at: string | null;
  sent_at: string | null;
  given_up_at: string | null;
  last_error: string | null;
  created_at: string;
}

/**
 * A price reserved on one budget's period through POST /admin/v1/verify, waiting for the usage
 * report of its call (one row per budget the call is under; `id` is the reservation's). It is
 * in its node's hold until the report settles it (`settled_at`) or the sweep releases it.
 */
export interface BudgetReservationsTable {
  id: string;
  budget_id: string;
  period_start: string;
  client_id: string;
  key_id: string;
  /** the hold the price is in (see BudgetHoldsTable) */
  node_id: string;
  epoch: number;
  endpoint: string;
  price_micros: number;
  created_at: string;
  /** ISO: not reported by then, the sweep releases it */
  expires_at: string;
  settled_at: string | null;
  /** the settlement that claimed it (its statements in the usage batch check it) */
  settled_by: string | null;
  released_at: string | null;
}

export interface BudgetsTables {
  budgets: BudgetsTable;
  budget_spend: BudgetSpendTable;
  budget_alerts: BudgetAlertsTable;
  budget_leases: BudgetLeasesTable;
  budget_holds: BudgetHoldsTable;
  budget_alert_mails: BudgetAlertMailsTable;
  budget_reservations: BudgetReservationsTable;
}
