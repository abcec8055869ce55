import type { Actor } from '../audit/index.ts';
import { formatMicros } from '../lib/money.ts';
import type {
  BillTo,
  Invoice,
  InvoiceDeliveriesTable,
  InvoiceDelivery,
  InvoiceLineItem,
  InvoicesTable,
  PaymentDetails,
  PaymentDetailsTable,
} from './billing-types.ts';

/** An invoice as webhook payloads carry it: no bill-to details, no line items. */
export function invoiceEvent(r: InvoicesTable) {
  return {
    id: r.id,
    number: r.number,
    clientId: r.client_id,
    period: r.period,
    currency: r.currency,
    totalMicros: Number(r.total_micros),
  };
}

export function toPaymentDetails(r: PaymentDetailsTable): PaymentDetails {
  return {
    clientId: r.client_id,
    method: r.method,
    frequency: r.frequency,
    billingEmail: r.billing_email,
    currency: r.currency,
    company: { name: r.company_name, address: r.company_address, vatId: r.company_vat_id },
    invoiceWhenEmpty: r.invoice_when_empty === null ? null : r.invoice_when_empty === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toDelivery(r: InvoiceDeliveriesTable): InvoiceDelivery {
  return {
    id: r.id,
    attempt: r.attempt,
    to: r.to_address,
    status: r.status,
    transient: r.transient === 1,
    error: r.error,
    smtpCode: r.smtp_code,
    messageId: r.message_id,
    createdAt: r.created_at,
  };
}

export function toInvoice(r: InvoicesTable, deliveries?: InvoiceDeliveriesTable[]): Invoice {
  const totalMicros = Number(r.total_micros);
  return {
    id: r.id,
    number: r.number,
    clientId: r.client_id,
    period: r.period,
    periodStart: r.period_start,
    periodEnd: r.period_end,
    currency: r.currency,
    status: r.status,
    totalMicros,
    total: formatMicros(totalMicros),
    lineItems: JSON.parse(r.line_items) as InvoiceLineItem[],
    billTo: JSON.parse(r.bill_to) as BillTo,
    createdAt: r.issued_at,
    issuedAt: r.issued_at,
    sentAt: r.sent_at,
    paidAt: r.paid_at,
    voidedAt: r.voided_at,
    voidReason: r.void_reason,
    sendAttempts: Number(r.send_attempts),
    nextSendAt: r.next_send_at,
    ...(deliveries && { deliveries: deliveries.map(toDelivery) }),
  };
}

export function actorLabel(a: Actor): string {
  return `${a.type}:${a.id}`;
}
