import { billingContext, type BillingServiceDeps } from './billing-context.ts';
import { createBillingDelivery } from './billing-delivery.ts';
import { createPaymentDetails } from './billing-payment-details.ts';
import { createBillingQueries } from './billing-queries.ts';
import { createBillingRun } from './billing-run.ts';
import { createBillingSettle } from './billing-settle.ts';

export {
  clientDirectory,
  type BillingClient,
  type BillingClientDirectory,
  type BillingServiceDeps,
  type BillingSettings,
  type BillingUsageSource,
} from './billing-context.ts';
export { toInvoice } from './billing-rows.ts';

/**
 * Billing (SPEC §4): payment details, invoice runs per period, HTML invoices and their delivery
 * by email. A run is idempotent and safe to run concurrently from any number of processes:
 * the store allocates numbers inside the transaction that inserts, one invoice per client per
 * period, and a sender's lease keeps two runs from mailing the same invoice.
 *
 * The parts: `billing-payment-details.ts` (how a client is billed), `billing-run.ts` (issue a
 * period), `billing-delivery.ts` (send, retry, cap), `billing-settle.ts` (void, paid) and
 * `billing-queries.ts` (reading invoices), sharing one `BillingContext`.
 */
export function createBillingService(deps: BillingServiceDeps) {
  const ctx = billingContext(deps);
  return {
    ...createPaymentDetails(ctx),
    ...createBillingRun(ctx),
    ...createBillingDelivery(ctx),
    ...createBillingQueries(ctx),
    ...createBillingSettle(ctx),
    mailer: deps.mailer,
  };
}

export type BillingService = ReturnType<typeof createBillingService>;
