import type { Actor } from '../audit/index.ts';
import { MailError } from '../infra/mailer.ts';
import { backoffMs } from '../lib/backoff.ts';
import { isEmailAddress } from '../lib/email.ts';
import { AppError, isAppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import {
  adminRow,
  assertMailer,
  sleep,
  withDeliveries,
  type BillingContext,
} from './billing-context.ts';
import { invoiceEvent, toInvoice } from './billing-rows.ts';
import type {
  Invoice,
  InvoiceDeliveriesTable,
  InvoicesTable,
  RunProgress,
} from './billing-types.ts';
import { renderInvoiceEmail } from './invoice-html.ts';

const SEND_LEASE_MS = 5 * 60_000;

type DeliveryOutcome = { delivered: boolean; busy?: boolean; error?: string };

/** One delivery in progress: the tries recorded so far and the last failure. */
interface Sending {
  clientId: string;
  id: string;
  attempts: number;
  lastError: MailError | null;
}

/** Sending invoices by email: one now, the due retries, and many at a time during a run. */
export function createBillingDelivery(ctx: BillingContext) {
  return {
    /** Retries deliveries whose backoff has elapsed (called by the scheduler). */
    sendDue: (limit = 200) => sendDue(ctx, limit),
    /** Sends (or re-sends) one invoice now. A void invoice is never sent. */
    send: (id: string, actor: Actor) => send(ctx, id, actor),
  };
}

async function sendDue(
  ctx: BillingContext,
  limit: number,
): Promise<{ sent: number; failed: number }> {
  if (!ctx.mailer.enabled) return { sent: 0, failed: 0 };
  return deliverMany(ctx, await ctx.billingStore.dueForRetry(ctx.clock.now().toISOString(), limit));
}

async function send(
  ctx: BillingContext,
  id: string,
  actor: Actor,
): Promise<{ invoice: Invoice; delivered: boolean; error?: string }> {
  assertMailer(ctx);
  const row = await adminRow(ctx, id);
  if (row.status === 'void') throw new AppError('conflict', 'a void invoice is not sent');
  const r = await deliver(ctx, row.client_id, row.id);
  if (r.busy) throw new AppError('conflict', 'this invoice is being sent right now');
  await ctx.audit.record({
    actor,
    action: r.delivered ? 'invoice.sent' : 'invoice.send_failed',
    targetType: 'invoice',
    targetId: id,
    clientId: row.client_id,
    data: { number: row.number, ...(r.error && { error: r.error }) },
  });
  return {
    invoice: await withDeliveries(ctx, await adminRow(ctx, id)),
    delivered: r.delivered,
    ...(r.error && { error: r.error }),
  };
}

/** Sends many, `sendConcurrency` at a time; one failure never stops the others. */
export async function deliverMany(
  ctx: BillingContext,
  items: Array<{ id: string; client_id: string }>,
  onProgress?: (p: RunProgress) => void,
): Promise<{ sent: number; failed: number }> {
  let next = 0;
  let done = 0;
  let sent = 0;
  let failed = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        const r = await deliver(ctx, item.client_id, item.id);
        if (r.delivered) sent += 1;
        else if (!r.busy) failed += 1;
      } catch (err) {
        failed += 1;
        ctx.report(err, { invoiceId: item.id, clientId: item.client_id });
      }
      done += 1;
      onProgress?.({ phase: 'send', done, total: items.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(ctx.sendConcurrency, items.length) }, worker));
  return { sent, failed };
}

/**
 * One delivery of one invoice: up to `sendAttempts` tries with backoff for transient
 * failures, every try recorded. Never throws for a mail failure: the outcome is the value.
 */
async function deliver(
  ctx: BillingContext,
  clientId: string,
  id: string,
): Promise<DeliveryOutcome> {
  const now = ctx.clock.now();
  const claimed = await ctx.billingStore.claimSend(
    clientId,
    id,
    now.toISOString(),
    new Date(now.getTime() + SEND_LEASE_MS).toISOString(),
  );
  if (!claimed) return { delivered: false, busy: true };
  const s: Sending = { clientId, id, attempts: 0, lastError: null };
  try {
    if (await tryToSend(ctx, s)) return { delivered: true };
  } catch (err) {
    // Storage trouble mid-send: release the lease so a later run can try again.
    await ctx.billingStore
      .finishSend(clientId, id, {
        attempts: s.attempts,
        sentAt: null,
        nextSendAt: null,
        now: ctx.clock.now().toISOString(),
      })
      .catch(() => undefined);
    throw err;
  }
  return finishFailed(ctx, s);
}

/** The tries of one delivery; true when the mail went out (and the invoice is marked sent). */
async function tryToSend(ctx: BillingContext, s: Sending): Promise<boolean> {
  const row = (await ctx.billingStore.find(s.clientId, s.id))!;
  const to = await recipientOf(ctx, s.clientId);
  const mail = renderInvoiceEmail(toInvoice(row), ctx.settings.operator);
  const record = (fields: Partial<InvoiceDeliveriesTable>) => recordTry(ctx, s, row, to, fields);
  if (!to || !isEmailAddress(to)) {
    s.lastError = new MailError('no valid billing email for this client', false, null);
    await record({ error: s.lastError.message });
    return false;
  }
  for (let i = 1; i <= ctx.sendAttempts; i++) {
    try {
      const { messageId } = await ctx.mailer.send({ to, ...mail });
      await record({ status: 'sent', message_id: messageId });
      await finishSent(ctx, s, row, to);
      return true;
    } catch (err) {
      s.lastError = asMailError(err);
      await record({
        error: s.lastError.message,
        transient: s.lastError.transient ? 1 : 0,
        smtp_code: s.lastError.smtpCode,
      });
      if (!s.lastError.transient || i === ctx.sendAttempts) break;
      await sleep(backoffMs(i - 1, { baseMs: ctx.sendBackoffMs, maxMs: 30_000 }));
    }
  }
  return false;
}

function asMailError(err: unknown): MailError {
  if (err instanceof MailError) return err;
  return new MailError(isAppError(err) ? err.message : 'mail delivery failed', false, null, err);
}

async function recipientOf(ctx: BillingContext, clientId: string): Promise<string | null> {
  const d = await ctx.billingStore.findPaymentDetails(clientId);
  if (d?.billing_email) return d.billing_email;
  return (await ctx.clients.find(clientId))?.email ?? null;
}

async function recordTry(
  ctx: BillingContext,
  s: Sending,
  row: InvoicesTable,
  to: string | null,
  fields: Partial<InvoiceDeliveriesTable>,
): Promise<void> {
  s.attempts += 1;
  await ctx.billingStore.recordDelivery({
    id: newId('delivery', ctx.clock.now().getTime()),
    invoice_id: s.id,
    client_id: s.clientId,
    attempt: Number(row.send_attempts) + s.attempts,
    to_address: to,
    status: 'failed',
    transient: 0,
    error: null,
    smtp_code: null,
    message_id: null,
    created_at: ctx.clock.now().toISOString(),
    ...fields,
  });
}

async function finishSent(ctx: BillingContext, s: Sending, row: InvoicesTable, to: string) {
  const { emit, clock } = ctx;
  await ctx.billingStore.finishSend(
    s.clientId,
    s.id,
    {
      attempts: s.attempts,
      sentAt: clock.now().toISOString(),
      nextSendAt: null,
      now: clock.now().toISOString(),
    },
    emit &&
      ((trx) =>
        emit(trx, {
          type: 'invoice.sent',
          clientId: s.clientId,
          data: { invoice: invoiceEvent(row), to: to },
        })),
  );
}

/** Releases the lease after failed tries, with the next retry time while attempts remain. */
async function finishFailed(ctx: BillingContext, s: Sending): Promise<DeliveryOutcome> {
  const { emit, clock } = ctx;
  const lastError = s.lastError;
  const current = (await ctx.billingStore.find(s.clientId, s.id))!;
  const total = current.send_attempts + s.attempts;
  const retry = lastError?.transient && total < ctx.maxAttempts;
  const nextSendAt = retry
    ? new Date(
        clock.now().getTime() +
          backoffMs(total - 1, { baseMs: ctx.retryBaseMs, maxMs: 24 * 3_600_000 }),
      ).toISOString()
    : null;
  await ctx.billingStore.finishSend(
    s.clientId,
    s.id,
    { attempts: s.attempts, sentAt: null, nextSendAt, now: clock.now().toISOString() },
    emit &&
      ((trx) =>
        emit(trx, {
          type: 'invoice.delivery_failed',
          clientId: s.clientId,
          data: { invoice: invoiceEvent(current), error: lastError?.message ?? null, nextSendAt },
        })),
  );
  return { delivered: false, error: lastError?.message };
}
