/**
 * The budgets module's public surface (issue 16): what the rest of the server may use. Faces
 * (HTTP, CLI, dashboard API types), the services wiring, the database schema and the
 * verification step (keys) import from here; everything else in src/budgets is internal.
 */
export { createBudgetsService, ALERT_SWEEP_MS } from './budgets-service.ts';
export type { BudgetsService, BudgetsServiceDeps, BudgetClientInfo } from './budgets-service.ts';
export { createBudgetsStore } from './budgets-store.ts';
export type { BudgetsStore } from './budgets-store.ts';
export type { BudgetGate } from './budgets-gate.ts';
export type { ReservationReport } from './budgets-reservations.ts';
export { LEASE_TTL_MS, LEASE_GRACE_MS, LEASE_SHARE } from './budgets-leases.ts';
export { BUDGET_MODES, BUDGET_PERIODS, DEFAULT_THRESHOLDS } from './budgets-types.ts';
export { budgetInput, budgetPatchInput } from './budgets-input.ts';
export type { BudgetInput, BudgetPatch } from './budgets-input.ts';
export type {
  Budget,
  BudgetDecision,
  BudgetHold,
  BudgetMode,
  BudgetPeriod,
  BudgetsTables,
} from './budgets-types.ts';
