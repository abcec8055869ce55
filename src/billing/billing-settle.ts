import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import { adminRow, withDeliveries, type BillingContext } from './billing-context.ts';
import { invoiceEvent } from './billing-rows.ts';
import type { Invoice } from './billing-types.ts';

type SettleFields = (now: string) => {
  voided_at?: string;
  void_reason?: string | null;
  paid_at?: string;
};

/** The operator's final word on an invoice: void or paid. */
export function createBillingSettle(ctx: BillingContext) {
  return {
    /** Voids an issued or sent invoice; it keeps its number. Idempotent. */
    void(id: string, actor: Actor, reason?: string): Promise<Invoice> {
      const voidReason = reason?.trim().slice(0, 500) || null;
      const fields: SettleFields = (now) => ({ voided_at: now, void_reason: voidReason });
      return settle(ctx, id, actor, 'void', fields, { reason: reason ?? null });
    },

    /** Records payment of an issued or sent invoice. Idempotent. */
    markPaid(id: string, actor: Actor): Promise<Invoice> {
      return settle(ctx, id, actor, 'paid', (now) => ({ paid_at: now }), {});
    },
  };
}

/**
 * Moves an issued or sent invoice to its final state, void or paid (the other final state is
 * a conflict), once: a second call finds it there and answers the same invoice.
 */
async function settle(
  ctx: BillingContext,
  id: string,
  actor: Actor,
  to: 'void' | 'paid',
  fields: SettleFields,
  auditData: Record<string, unknown>,
): Promise<Invoice> {
  const { emit } = ctx;
  const row = await adminRow(ctx, id);
  if (to === 'void' && row.status === 'paid') {
    throw new AppError('conflict', 'a paid invoice cannot be voided');
  }
  if (to === 'paid' && row.status === 'void') {
    throw new AppError('conflict', 'a void invoice cannot be paid');
  }
  const now = ctx.clock.now().toISOString();
  const paidEvent =
    to === 'paid' && emit
      ? (trx: Parameters<EmitEvent>[0]) =>
          emit(trx, {
            type: 'invoice.paid',
            clientId: row.client_id,
            data: { invoice: invoiceEvent(row), paidAt: now },
          })
      : undefined;
  const patch = { status: to, ...fields(now), next_send_at: null, updated_at: now };
  if (await ctx.billingStore.transition(row.client_id, id, ['issued', 'sent'], patch, paidEvent)) {
    await ctx.audit.record({
      actor,
      action: to === 'void' ? 'invoice.voided' : 'invoice.paid',
      targetType: 'invoice',
      targetId: id,
      clientId: row.client_id,
      data: { number: row.number, ...auditData },
    });
  }
  const after = await adminRow(ctx, id);
  if (after.status !== to) throw new AppError('conflict', `invoice is ${after.status}`);
  return withDeliveries(ctx, after);
}
