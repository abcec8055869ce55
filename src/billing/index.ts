/**
 * The billing module's public surface: invoices (issue a period, deliver, void, mark paid),
 * each client's payment details, the scheduler that runs each period, the money and period
 * helpers other modules share, and the value lists the faces validate. Other modules import
 * from here, never from the module's files.
 */
export {
  clientDirectory,
  createBillingService,
  type BillingService,
  type BillingSettings,
} from './billing-service.ts';
export { createBillingStore } from './billing-store.ts';
export { createBillingScheduler } from './billing-scheduler.ts';
export { formatMoney, periodContaining } from './billing-fns.ts';
export { paymentDetailsInput } from './billing-input.ts';
export {
  BILLING_FREQUENCIES,
  INVOICE_STATUSES,
  PAYMENT_METHODS,
  type BillingFrequency,
  type Invoice,
  type PaymentDetails,
  type PaymentDetailsInput,
  type PaymentMethod,
  type RunProgress,
} from './billing-types.ts';
