import type { Actor } from '../audit/index.ts';
import { mustFindClient, type BillingContext } from './billing-context.ts';
import { toPaymentDetails } from './billing-rows.ts';
import type { PaymentDetails, PaymentDetailsInput, PaymentDetailsTable } from './billing-types.ts';

/** A client's payment details: how, how often and to whom it is billed. */
export function createPaymentDetails(ctx: BillingContext) {
  return {
    async getPaymentDetails(clientId: string): Promise<PaymentDetails | null> {
      await mustFindClient(ctx, clientId);
      const row = await ctx.billingStore.findPaymentDetails(clientId);
      return row ? toPaymentDetails(row) : null;
    },

    setPaymentDetails: (clientId: string, input: PaymentDetailsInput, actor: Actor) =>
      setPaymentDetails(ctx, clientId, input, actor),

    /**
     * A deleted client's payment details go with its other PII (billing email, company address).
     * Its invoices stay, with the details they were issued with, for accounting.
     */
    async forgetPaymentDetails(clientId: string, actor: Actor): Promise<void> {
      if (await ctx.billingStore.deletePaymentDetails(clientId)) {
        await ctx.audit.record({
          actor,
          action: 'client.payment_details_deleted',
          targetType: 'client',
          targetId: clientId,
          clientId,
        });
      }
    },
  };
}

async function setPaymentDetails(
  ctx: BillingContext,
  clientId: string,
  input: PaymentDetailsInput,
  actor: Actor,
): Promise<PaymentDetails> {
  await mustFindClient(ctx, clientId);
  // The input is paymentDetailsInput's (billing-input.ts): its shape is already checked.
  const currency = input.currency ?? ctx.settings.currency;
  const email = input.billingEmail || null;
  const now = ctx.clock.now().toISOString();
  const existing = await ctx.billingStore.findPaymentDetails(clientId);
  const row: PaymentDetailsTable = {
    client_id: clientId,
    method: input.method,
    frequency: input.frequency,
    billing_email: email,
    currency,
    company_name: clean(input.company?.name),
    company_address: clean(input.company?.address),
    company_vat_id: clean(input.company?.vatId),
    invoice_when_empty:
      input.invoiceWhenEmpty === undefined || input.invoiceWhenEmpty === null
        ? null
        : input.invoiceWhenEmpty
          ? 1
          : 0,
    created_at: existing?.created_at ?? now,
    updated_at: now,
  };
  await ctx.billingStore.upsertPaymentDetails(row);
  await ctx.audit.record({
    actor,
    action: 'client.payment_details_updated',
    targetType: 'client',
    targetId: clientId,
    clientId,
    data: { method: row.method, frequency: row.frequency, currency: row.currency },
  });
  return toPaymentDetails(row);
}

/** Trimmed, and empty as null (the schema has already bounded the length). */
function clean(v: string | null | undefined): string | null {
  return v?.trim() || null;
}
