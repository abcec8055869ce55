import { AppError } from '../lib/errors.ts';
import { byId, readPage } from '../lib/page.ts';
import { adminRow, withDeliveries, type BillingContext } from './billing-context.ts';
import { toInvoice } from './billing-rows.ts';
import type { Invoice, InvoiceStatus } from './billing-types.ts';
import { renderInvoiceEmail } from './invoice-html.ts';

type InvoicePage = { data: Invoice[]; nextCursor: string | null };
type InvoiceFilter = { limit?: number; cursor?: string; period?: string; status?: InvoiceStatus };

/** Reading invoices: the client's view (tenant id in every call) and the operator's. */
export function createBillingQueries(ctx: BillingContext) {
  const { billingStore } = ctx;
  return {
    // ---- the client's view (tenant id in every call) -----------------------------------------
    listForClient(clientId: string, f: InvoiceFilter): Promise<InvoicePage> {
      return readPage(
        f,
        (limit) => billingStore.list(clientId, { ...f, limit }),
        (rows) => rows.map((r) => toInvoice(r)),
        byId,
      );
    },

    async getForClient(clientId: string, id: string): Promise<Invoice> {
      const row = await billingStore.find(clientId, id);
      if (!row) throw new AppError('not_found', 'invoice not found');
      return toInvoice(row);
    },

    // ---- the operator's view -----------------------------------------------------------------
    list(f: InvoiceFilter & { clientId?: string }): Promise<InvoicePage> {
      return readPage(
        f,
        (limit) => {
          const q = { period: f.period, status: f.status, cursor: f.cursor, limit };
          return f.clientId ? billingStore.list(f.clientId, q) : billingStore.listAnyClient(q);
        },
        (rows) => rows.map((r) => toInvoice(r)),
        byId,
      );
    },

    async get(id: string): Promise<Invoice> {
      return withDeliveries(ctx, await adminRow(ctx, id));
    },

    /** The printable HTML page of an invoice. */
    renderHtml(invoice: Invoice): string {
      return renderInvoiceEmail(invoice, ctx.settings.operator).html;
    },
  };
}
