/**
 * The billing tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
export type BillingFrequency = 'weekly' | 'monthly';

export type PaymentMethod = 'bank_transfer' | 'card' | 'sepa_debit' | 'paypal' | 'other';

export type InvoiceStatus = 'issued' | 'sent' | 'paid' | 'void';

/** One row per client that has payment details; clients without one bill weekly by email. */
export interface PaymentDetailsTable {
  client_id: string;
  method: PaymentMethod;
  frequency: BillingFrequency;
  /** null = the client's own email */
  billing_email: string | null;
  currency: string;
  company_name: string | null;
  company_address: string | null;
  company_vat_id: string | null;
  /** 1/0 overrides `billing.invoiceEmptyClients`; null = the config default */
  invoice_when_empty: number | null;
  created_at: string;
  updated_at: string;
}

export interface InvoicesTable {
  id: string;
  /** INV-{period}-{seq}, unique forever (a void invoice keeps it) */
  number: string;
  client_id: string;
  /** 2025-W40 or 2025-10; unique with client_id */
  period: string;
  period_start: string;
  period_end: string;
  seq: number;
  currency: string;
  status: InvoiceStatus;
  total_micros: number;
  /** JSON InvoiceLineItem[] (frozen at issue) */
  line_items: string;
  /** JSON BillTo (frozen at issue: the invoice outlives a deleted client's PII) */
  bill_to: string;
  issued_at: string;
  sent_at: string | null;
  paid_at: string | null;
  voided_at: string | null;
  void_reason: string | null;
  /** delivery attempts so far (every attempt is a row in invoice_deliveries) */
  send_attempts: number;
  /** when the scheduler retries a transiently failed delivery; null = nothing pending */
  next_send_at: string | null;
  /** a sender's lease: no second node mails the same invoice while it is held */
  sending_until: string | null;
  updated_at: string;
}

/** The last sequence number used per period: allocated inside the transaction that inserts. */
export interface InvoiceCountersTable {
  period: string;
  last_seq: number;
}

export interface InvoiceDeliveriesTable {
  id: string;
  invoice_id: string;
  client_id: string;
  attempt: number;
  to_address: string | null;
  status: 'sent' | 'failed';
  /** 1 when the failure is worth retrying (4xx, connection trouble) */
  transient: number;
  error: string | null;
  smtp_code: number | null;
  message_id: string | null;
  created_at: string;
}

/** One row per period a run has completed; the scheduler skips finished periods. */
export interface InvoiceRunsTable {
  period: string;
  started_at: string;
  finished_at: string | null;
  created: number;
  existing: number;
  actor: string;
}

export interface BillingTables {
  payment_details: PaymentDetailsTable;
  invoices: InvoicesTable;
  invoice_counters: InvoiceCountersTable;
  invoice_deliveries: InvoiceDeliveriesTable;
  invoice_runs: InvoiceRunsTable;
}

export interface Company {
  name: string | null;
  address: string | null;
  vatId: string | null;
}

export interface InvoiceLineItem {
  endpoint: string;
  calls: number;
  unitPriceMicros: number;
  amountMicros: number;
  unitPrice: string;
  amount: string;
}

/** Who the invoice is addressed to, as it was when it was issued. */
export interface BillTo {
  name: string;
  email: string | null;
  company: Company;
  paymentMethod: PaymentMethod;
}
