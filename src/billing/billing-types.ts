import type {
  BillingFrequency,
  PaymentMethod,
  InvoiceStatus,
  Company,
  InvoiceLineItem,
  BillTo,
} from '../store/tables/billing.ts';
export type {
  BillingFrequency,
  PaymentMethod,
  InvoiceStatus,
  PaymentDetailsTable,
  InvoicesTable,
  InvoiceCountersTable,
  InvoiceDeliveriesTable,
  InvoiceRunsTable,
  BillingTables,
  Company,
  InvoiceLineItem,
  BillTo,
} from '../store/tables/billing.ts';

export const PAYMENT_METHODS: readonly PaymentMethod[] = [
  'bank_transfer',
  'card',
  'sepa_debit',
  'paypal',
  'other',
];

export const BILLING_FREQUENCIES: readonly BillingFrequency[] = ['weekly', 'monthly'];

export const INVOICE_STATUSES: readonly InvoiceStatus[] = ['issued', 'sent', 'paid', 'void'];

export interface PaymentDetails {
  clientId: string;
  method: PaymentMethod;
  frequency: BillingFrequency;
  billingEmail: string | null;
  currency: string;
  company: Company;
  invoiceWhenEmpty: boolean | null;
  createdAt: string;
  updatedAt: string;
}

export type { PaymentDetailsInput } from './billing-input.ts';

export interface InvoiceDelivery {
  id: string;
  attempt: number;
  to: string | null;
  status: 'sent' | 'failed';
  transient: boolean;
  error: string | null;
  smtpCode: number | null;
  messageId: string | null;
  createdAt: string;
}

export interface Invoice {
  id: string;
  number: string;
  clientId: string;
  period: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  status: InvoiceStatus;
  totalMicros: number;
  total: string;
  lineItems: InvoiceLineItem[];
  billTo: BillTo;
  createdAt: string;
  issuedAt: string;
  sentAt: string | null;
  paidAt: string | null;
  voidedAt: string | null;
  voidReason: string | null;
  sendAttempts: number;
  nextSendAt: string | null;
  deliveries?: InvoiceDelivery[];
}

/** One priced usage line from the usage module (live usage only, test keys never billed). */
export interface BillingLine {
  clientId: string;
  endpoint: string;
  unitPriceMicros: number;
  calls: number;
  amountMicros: number;
}

export interface RunResult {
  period: string;
  kind: BillingFrequency;
  periodStart: string;
  periodEnd: string;
  /** clients due an invoice this period */
  clients: number;
  created: number;
  existing: number;
  /** sum over the invoices this run created */
  createdTotalMicros: number;
  sent: number;
  sendFailed: number;
  durationMs: number;
}

export interface RunProgress {
  phase: 'usage' | 'issue' | 'send';
  done: number;
  total: number;
}
