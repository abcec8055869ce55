import type { AuditService } from '../audit/audit-service.ts';
import type { Actor } from '../audit/audit-types.ts';
import type { Mailer } from '../infra/mailer.ts';
import { MailError } from '../infra/mailer.ts';
import { backoffMs } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import { isEmailAddress } from '../lib/email.ts';
import { AppError, isAppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { formatMicros } from '../lib/money.ts';
import {
  emptyCompany,
  groupByClient,
  lineItemsOf,
  overlappingPeriods,
  parsePeriod,
  previousPeriod,
  uncovered,
  type Interval,
  type Period,
} from './billing-fns.ts';
import { isUniqueViolation } from '../store/store-errors.ts';
import type { BillingStore, CoveringGuard, InvoiceDraft } from './billing-store.ts';
import type {
  BillingFrequency,
  BillingLine,
  BillTo,
  Invoice,
  InvoiceDeliveriesTable,
  InvoiceDelivery,
  InvoiceLineItem,
  InvoicesTable,
  InvoiceStatus,
  PaymentDetails,
  PaymentDetailsInput,
  PaymentDetailsTable,
  RunProgress,
  RunResult,
} from './billing-types.ts';
import { renderInvoiceEmail, type OperatorDetails } from './invoice-html.ts';
import type { EmitEvent } from '../webhooks/webhooks-service.ts';
import { byId, readPage } from '../lib/page.ts';

/** What billing needs to know about a client (the clients module owns them). */
export interface BillingClient {
  id: string;
  name: string;
  email: string | null;
  status: string;
}

export interface BillingClientDirectory {
  /** null when there is no such client */
  find(clientId: string): Promise<BillingClient | null>;
  list(opts: {
    limit: number;
    cursor?: string;
  }): Promise<{ data: BillingClient[]; nextCursor: string | null }>;
}

/** Adapts the clients service (its `get` throws not_found) to what billing reads. */
export function clientDirectory(clients: {
  get(clientId: string): Promise<BillingClient>;
  list(opts: {
    limit: number;
    cursor?: string;
  }): Promise<{ data: BillingClient[]; nextCursor: string | null }>;
}): BillingClientDirectory {
  return {
    find: (clientId) =>
      clients.get(clientId).catch((err: unknown) => {
        if (isAppError(err) && err.code === 'not_found') return null;
        throw err;
      }),
    list: (opts) => clients.list(opts),
  };
}

/** The usage module's priced, live-only lines for [from, to). */
export interface BillingUsageSource {
  billingLines(q: { from: string; to: string; clientIds?: string[] }): Promise<BillingLine[]>;
}

export interface BillingSettings {
  /** invoice currency for clients without payment details */
  currency: string;
  invoiceEmptyClients: boolean;
  operator: OperatorDetails;
  /** attempts inside one send (default 3), with backoff from `backoffMs` (default 500) */
  sendAttempts?: number;
  backoffMs?: number;
  /** later retries by the scheduler: first after `retryBaseMs` (default 5 min), doubling */
  retryBaseMs?: number;
  /** delivery attempts in total before giving up (default 12) */
  maxAttempts?: number;
  /** invoices issued per transaction (default 500) */
  chunkSize?: number;
  /** parallel sends during a run (default 4) */
  sendConcurrency?: number;
}

export interface BillingServiceDeps {
  billingStore: BillingStore;
  clients: BillingClientDirectory;
  usage: BillingUsageSource;
  mailer: Mailer;
  audit: AuditService;
  clock: Clock;
  settings: BillingSettings;
  /** for logging a run's per-invoice problems without stopping it */
  onError?: (err: unknown, context: Record<string, unknown>) => void;
  /** The webhooks outbox: invoice events commit with the invoice's own change. */
  emit?: EmitEvent;
}

/** An invoice as webhook payloads carry it: no bill-to details, no line items. */
function invoiceEvent(r: InvoicesTable) {
  return {
    id: r.id,
    number: r.number,
    clientId: r.client_id,
    period: r.period,
    currency: r.currency,
    totalMicros: Number(r.total_micros),
  };
}

const SEND_LEASE_MS = 5 * 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function toPaymentDetails(r: PaymentDetailsTable): PaymentDetails {
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

function actorLabel(a: Actor): string {
  return `${a.type}:${a.id}`;
}

/**
 * Billing (SPEC §4): payment details, invoice runs per period, HTML invoices and their delivery
 * by email. A run is idempotent and safe to run concurrently from any number of processes:
 * the store allocates numbers inside the transaction that inserts, one invoice per client per
 * period, and a sender's lease keeps two runs from mailing the same invoice.
 */
export function createBillingService(deps: BillingServiceDeps) {
  const { billingStore, clients, usage, mailer, audit, clock, settings } = deps;
  const sendAttempts = settings.sendAttempts ?? 3;
  const sendBackoffMs = settings.backoffMs ?? 500;
  const retryBaseMs = settings.retryBaseMs ?? 5 * 60_000;
  const maxAttempts = settings.maxAttempts ?? 12;
  const chunkSize = settings.chunkSize ?? 500;
  const sendConcurrency = settings.sendConcurrency ?? 4;
  const report = deps.onError ?? (() => undefined);
  const emit = deps.emit;
  const issuedEvents = emit
    ? async (trx: Parameters<EmitEvent>[0], rows: InvoicesTable[]) => {
        for (const r of rows)
          await emit(trx, {
            type: 'invoice.issued',
            clientId: r.client_id,
            data: { invoice: invoiceEvent(r) },
          });
      }
    : undefined;

  async function mustFindClient(clientId: string): Promise<BillingClient> {
    const c = await clients.find(clientId);
    if (!c) throw new AppError('not_found', 'client not found');
    return c;
  }

  function periodOf(text: string | undefined): Period {
    if (!text) return previousPeriod('weekly', clock.now());
    const p = parsePeriod(text);
    if (!p) {
      throw new AppError(
        'validation_failed',
        `period must be an ISO week like 2025-W40 or a month like 2025-10, got "${text}"`,
      );
    }
    return p;
  }

  async function allClients(): Promise<Map<string, BillingClient>> {
    const out = new Map<string, BillingClient>();
    let cursor: string | undefined;
    for (;;) {
      const page = await clients.list({ limit: 1000, cursor });
      for (const c of page.data) out.set(c.id, c);
      if (!page.nextCursor) return out;
      cursor = page.nextCursor;
    }
  }

  function billTo(
    client: BillingClient | undefined,
    clientId: string,
    d?: PaymentDetailsTable,
  ): BillTo {
    return {
      name: client?.name ?? clientId,
      email: d?.billing_email ?? client?.email ?? null,
      company: d
        ? { name: d.company_name, address: d.company_address, vatId: d.company_vat_id }
        : emptyCompany(),
      paymentMethod: d?.method ?? 'bank_transfer',
    };
  }

  /** Issues the drafts chunk by chunk; a conflict (another issuer got there) retries the chunk. */
  async function issueAll(
    period: Period,
    drafts: InvoiceDraft[],
    onProgress: ((p: RunProgress) => void) | undefined,
    guard: CoveringGuard,
  ): Promise<{ created: number; existing: number; createdTotalMicros: number; stale: string[] }> {
    let created = 0;
    let existing = 0;
    let createdTotalMicros = 0;
    const stale: string[] = [];
    for (let i = 0; i < drafts.length; i += chunkSize) {
      const chunk = drafts.slice(i, i + chunkSize);
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await billingStore.issue(period.id, chunk, guard, issuedEvents);
          created += res.created.length;
          existing += res.existing;
          stale.push(...res.stale);
          for (const r of res.created) createdTotalMicros += Number(r.total_micros);
          break;
        } catch (err) {
          if (!isUniqueViolation(err) || attempt >= 5) throw err;
          await sleep(10 * attempt);
        }
      }
      onProgress?.({
        phase: 'issue',
        done: Math.min(i + chunk.length, drafts.length),
        total: drafts.length,
      });
    }
    return { created, existing, createdTotalMicros, stale };
  }

  async function recipientOf(clientId: string): Promise<string | null> {
    const d = await billingStore.findPaymentDetails(clientId);
    if (d?.billing_email) return d.billing_email;
    return (await clients.find(clientId))?.email ?? null;
  }

  /**
   * One delivery of one invoice: up to `sendAttempts` tries with backoff for transient
   * failures, every try recorded. Never throws for a mail failure: the outcome is the value.
   */
  async function deliver(
    clientId: string,
    id: string,
  ): Promise<{ delivered: boolean; busy?: boolean; error?: string }> {
    const now = clock.now();
    const claimed = await billingStore.claimSend(
      clientId,
      id,
      now.toISOString(),
      new Date(now.getTime() + SEND_LEASE_MS).toISOString(),
    );
    if (!claimed) return { delivered: false, busy: true };
    let attempts = 0;
    let lastError: MailError | null = null;
    try {
      const row = (await billingStore.find(clientId, id))!;
      const invoice = toInvoice(row);
      const to = await recipientOf(clientId);
      const mail = renderInvoiceEmail(invoice, settings.operator);
      const record = async (fields: Partial<InvoiceDeliveriesTable>) => {
        attempts += 1;
        await billingStore.recordDelivery({
          id: newId('delivery', clock.now().getTime()),
          invoice_id: id,
          client_id: clientId,
          attempt: Number(row.send_attempts) + attempts,
          to_address: to,
          status: 'failed',
          transient: 0,
          error: null,
          smtp_code: null,
          message_id: null,
          created_at: clock.now().toISOString(),
          ...fields,
        });
      };
      if (!to || !isEmailAddress(to)) {
        lastError = new MailError('no valid billing email for this client', false, null);
        await record({ error: lastError.message });
      } else {
        for (let i = 1; i <= sendAttempts; i++) {
          try {
            const { messageId } = await mailer.send({ to, ...mail });
            await record({ status: 'sent', message_id: messageId });
            await billingStore.finishSend(
              clientId,
              id,
              {
                attempts,
                sentAt: clock.now().toISOString(),
                nextSendAt: null,
                now: clock.now().toISOString(),
              },
              emit &&
                ((trx) =>
                  emit(trx, {
                    type: 'invoice.sent',
                    clientId,
                    data: { invoice: invoiceEvent(row), to: to },
                  })),
            );
            return { delivered: true };
          } catch (err) {
            lastError =
              err instanceof MailError
                ? err
                : new MailError(
                    isAppError(err) ? err.message : 'mail delivery failed',
                    false,
                    null,
                    err,
                  );
            await record({
              error: lastError.message,
              transient: lastError.transient ? 1 : 0,
              smtp_code: lastError.smtpCode,
            });
            if (!lastError.transient || i === sendAttempts) break;
            await sleep(backoffMs(i - 1, { baseMs: sendBackoffMs, maxMs: 30_000 }));
          }
        }
      }
    } catch (err) {
      // Storage trouble mid-send: release the lease so a later run can try again.
      await billingStore
        .finishSend(clientId, id, {
          attempts,
          sentAt: null,
          nextSendAt: null,
          now: clock.now().toISOString(),
        })
        .catch(() => undefined);
      throw err;
    }
    const current = (await billingStore.find(clientId, id))!;
    const total = current.send_attempts + attempts;
    const retry = lastError?.transient && total < maxAttempts;
    const nextSendAt = retry
      ? new Date(
          clock.now().getTime() +
            backoffMs(total - 1, { baseMs: retryBaseMs, maxMs: 24 * 3_600_000 }),
        ).toISOString()
      : null;
    await billingStore.finishSend(
      clientId,
      id,
      { attempts, sentAt: null, nextSendAt, now: clock.now().toISOString() },
      emit &&
        ((trx) =>
          emit(trx, {
            type: 'invoice.delivery_failed',
            clientId,
            data: { invoice: invoiceEvent(current), error: lastError?.message ?? null, nextSendAt },
          })),
    );
    return { delivered: false, error: lastError?.message };
  }

  /** Sends many, `sendConcurrency` at a time; one failure never stops the others. */
  async function deliverMany(
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
          const r = await deliver(item.client_id, item.id);
          if (r.delivered) sent += 1;
          else if (!r.busy) failed += 1;
        } catch (err) {
          failed += 1;
          report(err, { invoiceId: item.id, clientId: item.client_id });
        }
        done += 1;
        onProgress?.({ phase: 'send', done, total: items.length });
      }
    };
    await Promise.all(Array.from({ length: Math.min(sendConcurrency, items.length) }, worker));
    return { sent, failed };
  }

  function assertMailer() {
    if (!mailer.enabled) throw new AppError('not_configured', mailer.describe);
  }

  async function adminRow(id: string): Promise<InvoicesTable> {
    const row = await billingStore.findAnyClient(id);
    if (!row) throw new AppError('not_found', 'invoice not found');
    return row;
  }

  /**
   * Moves an issued or sent invoice to its final state, void or paid (the other final state is
   * a conflict), once: a second call finds it there and answers the same invoice.
   */
  async function settle(
    id: string,
    actor: Actor,
    to: 'void' | 'paid',
    fields: (now: string) => { voided_at?: string; void_reason?: string | null; paid_at?: string },
    auditData: Record<string, unknown>,
  ): Promise<Invoice> {
    const row = await adminRow(id);
    if (to === 'void' && row.status === 'paid') {
      throw new AppError('conflict', 'a paid invoice cannot be voided');
    }
    if (to === 'paid' && row.status === 'void') {
      throw new AppError('conflict', 'a void invoice cannot be paid');
    }
    const now = clock.now().toISOString();
    const paidEvent =
      to === 'paid' && emit
        ? (trx: Parameters<NonNullable<typeof emit>>[0]) =>
            emit(trx, {
              type: 'invoice.paid',
              clientId: row.client_id,
              data: { invoice: invoiceEvent(row), paidAt: now },
            })
        : undefined;
    const patch = { status: to, ...fields(now), next_send_at: null, updated_at: now };
    if (await billingStore.transition(row.client_id, id, ['issued', 'sent'], patch, paidEvent)) {
      await audit.record({
        actor,
        action: to === 'void' ? 'invoice.voided' : 'invoice.paid',
        targetType: 'invoice',
        targetId: id,
        clientId: row.client_id,
        data: { number: row.number, ...auditData },
      });
    }
    const after = await adminRow(id);
    if (after.status !== to) throw new AppError('conflict', `invoice is ${after.status}`);
    return withDeliveries(after);
  }

  async function withDeliveries(row: InvoicesTable): Promise<Invoice> {
    return toInvoice(row, await billingStore.deliveries(row.client_id, row.id));
  }

  return {
    // ---- payment details ---------------------------------------------------------------------
    async getPaymentDetails(clientId: string): Promise<PaymentDetails | null> {
      await mustFindClient(clientId);
      const row = await billingStore.findPaymentDetails(clientId);
      return row ? toPaymentDetails(row) : null;
    },

    async setPaymentDetails(
      clientId: string,
      input: PaymentDetailsInput,
      actor: Actor,
    ): Promise<PaymentDetails> {
      await mustFindClient(clientId);
      const currency = (input.currency ?? settings.currency).toUpperCase();
      if (!/^[A-Z]{3}$/.test(currency)) {
        throw new AppError('validation_failed', 'currency must be a 3-letter ISO code like EUR');
      }
      const email = input.billingEmail?.trim() || null;
      if (email && !isEmailAddress(email)) {
        throw new AppError('validation_failed', 'billingEmail must be an email address');
      }
      const clean = (v: string | null | undefined, max: number) => {
        const t = v?.trim();
        if (t && t.length > max)
          throw new AppError('validation_failed', `company fields are at most ${max} characters`);
        return t || null;
      };
      const now = clock.now().toISOString();
      const existing = await billingStore.findPaymentDetails(clientId);
      const row: PaymentDetailsTable = {
        client_id: clientId,
        method: input.method,
        frequency: input.frequency,
        billing_email: email,
        currency,
        company_name: clean(input.company?.name, 200),
        company_address: clean(input.company?.address, 1000),
        company_vat_id: clean(input.company?.vatId, 50),
        invoice_when_empty:
          input.invoiceWhenEmpty === undefined || input.invoiceWhenEmpty === null
            ? null
            : input.invoiceWhenEmpty
              ? 1
              : 0,
        created_at: existing?.created_at ?? now,
        updated_at: now,
      };
      await billingStore.upsertPaymentDetails(row);
      await audit.record({
        actor,
        action: 'client.payment_details_updated',
        targetType: 'client',
        targetId: clientId,
        clientId,
        data: { method: row.method, frequency: row.frequency, currency: row.currency },
      });
      return toPaymentDetails(row);
    },

    /**
     * A deleted client's payment details go with its other PII (billing email, company address).
     * Its invoices stay, with the details they were issued with, for accounting.
     */
    async forgetPaymentDetails(clientId: string, actor: Actor): Promise<void> {
      if (await billingStore.deletePaymentDetails(clientId)) {
        await audit.record({
          actor,
          action: 'client.payment_details_deleted',
          targetType: 'client',
          targetId: clientId,
          clientId,
        });
      }
    },

    // ---- runs --------------------------------------------------------------------------------
    /**
     * Issues one invoice per client with billable usage in the period (weekly clients for a
     * week, monthly clients for a month), optionally sends every unsent invoice of the period.
     * Running it again, or twice at once, issues nothing twice and skips nobody.
     */
    async run(input: {
      period?: string;
      send?: boolean;
      actor: Actor;
      onProgress?: (p: RunProgress) => void;
    }): Promise<RunResult> {
      const started = Date.now();
      const period = periodOf(input.period);
      if (period.end.getTime() > clock.now().getTime()) {
        throw new AppError('validation_failed', `period ${period.id} has not ended yet`);
      }
      if (input.send) assertMailer();
      const startedAt = clock.now().toISOString();
      await billingStore.startRun(period.id, actorLabel(input.actor), startedAt);
      input.onProgress?.({ phase: 'usage', done: 0, total: 1 });
      const [details, directory] = await Promise.all([
        billingStore.allPaymentDetails(),
        allClients(),
      ]);
      // Monthly periods bill only the (usually few) monthly clients: ask usage for just those.
      const monthly = details.filter((d) => d.frequency === 'monthly').map((d) => d.client_id);
      const range = { from: period.start.toISOString(), to: period.end.toISOString() };
      const otherPeriods = overlappingPeriods(period).map((p) => p.id);
      const lines = await (period.kind === 'weekly'
        ? usage.billingLines(range)
        : monthly.length
          ? usage.billingLines({ ...range, clientIds: monthly })
          : Promise.resolve([]));
      input.onProgress?.({ phase: 'usage', done: 1, total: 1 });
      const detailsOf = new Map(details.map((d) => [d.client_id, d]));
      const frequencyOf = (clientId: string): BillingFrequency =>
        detailsOf.get(clientId)?.frequency ?? 'weekly';
      const byClient = groupByClient(lines);
      const due = new Set<string>();
      for (const clientId of byClient.keys())
        if (frequencyOf(clientId) === period.kind) due.add(clientId);
      const wantsEmpty = (clientId: string) => {
        const own = detailsOf.get(clientId)?.invoice_when_empty;
        return own === null || own === undefined ? settings.invoiceEmptyClients : own === 1;
      };
      for (const c of directory.values()) {
        if (c.status === 'active' && frequencyOf(c.id) === period.kind && wantsEmpty(c.id))
          due.add(c.id);
      }
      /** Drafts for these clients, leaving out what `coveredOf` says is billed elsewhere. */
      const draftsFor = async (
        clientIds: Iterable<string>,
        coveredOf: Map<string, Interval[]>,
      ): Promise<InvoiceDraft[]> => {
        const drafts: InvoiceDraft[] = [];
        for (const clientId of [...clientIds].sort()) {
          // The billed interval: the period minus what the client's non-void invoices cover.
          // Two pieces (a hole covered by another invoice) are both billed; periodStart and
          // periodEnd then span them, the days between being on that other invoice.
          let billed: Interval[] = [period];
          let clientLines = byClient.get(clientId) ?? [];
          const covered = coveredOf.get(clientId);
          if (covered) {
            billed = uncovered(period, covered);
            if (!billed.length) continue; // already invoiced entirely: no invoice, no number
            clientLines = (
              await Promise.all(
                billed.map((b) =>
                  usage.billingLines({
                    from: b.start.toISOString(),
                    to: b.end.toISOString(),
                    clientIds: [clientId],
                  }),
                ),
              )
            ).flat();
          }
          const { lineItems, totalMicros } = lineItemsOf(clientLines);
          if (totalMicros === 0 && !wantsEmpty(clientId)) continue; // nothing billable
          const d = detailsOf.get(clientId);
          drafts.push({
            id: newId('inv', clock.now().getTime()),
            client_id: clientId,
            period: period.id,
            period_start: billed[0]!.start.toISOString(),
            period_end: billed[billed.length - 1]!.end.toISOString(),
            currency: d?.currency ?? settings.currency,
            status: 'issued',
            total_micros: totalMicros,
            line_items: JSON.stringify(lineItems),
            bill_to: JSON.stringify(billTo(directory.get(clientId), clientId, d)),
            issued_at: startedAt,
            sent_at: null,
            paid_at: null,
            voided_at: null,
            void_reason: null,
            send_attempts: 0,
            next_send_at: null,
            sending_until: null,
            updated_at: startedAt,
          });
        }
        return drafts;
      };
      /**
       * Invoices of the other frequency (issued before the client switched) that already billed
       * part of this period: that part is never billed again.
       */
      const coveringNow = async () => {
        const coveredOf = new Map<string, Interval[]>();
        for (const c of await billingStore.covering(otherPeriods, range.from, range.to)) {
          const list = coveredOf.get(c.client_id) ?? [];
          list.push({ start: new Date(c.period_start), end: new Date(c.period_end) });
          coveredOf.set(c.client_id, list);
        }
        return coveredOf;
      };
      // A run of an overlapping period may bill some of these clients' days between our
      // covering check and our issue: the store then hands those clients back (stale), and they
      // are drafted again against the invoices as they are now.
      let pending: Set<string> = due;
      let clients = 0;
      const issued = { created: 0, existing: 0, createdTotalMicros: 0 };
      for (let round = 1; pending.size; round++) {
        const coveredOf = await coveringNow();
        const batch = await draftsFor(pending, coveredOf);
        const known = new Map([...coveredOf].map(([id, list]) => [id, list.length]));
        const r = await issueAll(period, batch, input.onProgress, {
          periods: otherPeriods,
          from: range.from,
          to: range.to,
          known,
        });
        issued.created += r.created;
        issued.existing += r.existing;
        issued.createdTotalMicros += r.createdTotalMicros;
        if (round === 1) clients = batch.length;
        pending = new Set(r.stale);
        if (pending.size && round >= 5) {
          throw new AppError(
            'conflict',
            `invoice run ${period.id}: clients kept being billed by another run meanwhile; run it again`,
          );
        }
      }

      let sent = 0;
      let sendFailed = 0;
      if (input.send) {
        const r = await deliverMany(await billingStore.unsentInPeriod(period.id), input.onProgress);
        sent = r.sent;
        sendFailed = r.failed;
      }
      // Finished only after sending: a run cut short mid-send is picked up again by the scheduler.
      await billingStore.finishRun(
        period.id,
        issued.created,
        issued.existing,
        clock.now().toISOString(),
      );
      const result: RunResult = {
        period: period.id,
        kind: period.kind,
        periodStart: period.start.toISOString(),
        periodEnd: period.end.toISOString(),
        clients,
        created: issued.created,
        existing: issued.existing,
        createdTotalMicros: issued.createdTotalMicros,
        sent,
        sendFailed,
        durationMs: Date.now() - started,
      };
      await audit.record({
        actor: input.actor,
        action: 'invoices.run',
        targetType: 'invoice_run',
        targetId: period.id,
        data: { ...result },
      });
      return result;
    },

    /** Has a run of this period completed (the scheduler's skip check)? */
    async runFinished(periodId: string): Promise<boolean> {
      return Boolean((await billingStore.findRun(periodId))?.finished_at);
    },

    /** Retries deliveries whose backoff has elapsed (called by the scheduler). */
    async sendDue(limit = 200): Promise<{ sent: number; failed: number }> {
      if (!mailer.enabled) return { sent: 0, failed: 0 };
      return deliverMany(await billingStore.dueForRetry(clock.now().toISOString(), limit));
    },

    // ---- the client's view (tenant id in every call) -----------------------------------------
    async listForClient(
      clientId: string,
      f: { limit?: number; cursor?: string; period?: string; status?: InvoiceStatus },
    ): Promise<{ data: Invoice[]; nextCursor: string | null }> {
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
    async list(f: {
      clientId?: string;
      limit?: number;
      cursor?: string;
      period?: string;
      status?: InvoiceStatus;
    }): Promise<{ data: Invoice[]; nextCursor: string | null }> {
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
      return withDeliveries(await adminRow(id));
    },

    /** Sends (or re-sends) one invoice now. A void invoice is never sent. */
    async send(
      id: string,
      actor: Actor,
    ): Promise<{ invoice: Invoice; delivered: boolean; error?: string }> {
      assertMailer();
      const row = await adminRow(id);
      if (row.status === 'void') throw new AppError('conflict', 'a void invoice is not sent');
      const r = await deliver(row.client_id, row.id);
      if (r.busy) throw new AppError('conflict', 'this invoice is being sent right now');
      await audit.record({
        actor,
        action: r.delivered ? 'invoice.sent' : 'invoice.send_failed',
        targetType: 'invoice',
        targetId: id,
        clientId: row.client_id,
        data: { number: row.number, ...(r.error && { error: r.error }) },
      });
      return {
        invoice: await withDeliveries(await adminRow(id)),
        delivered: r.delivered,
        ...(r.error && { error: r.error }),
      };
    },

    /** Voids an issued or sent invoice; it keeps its number. Idempotent. */
    void(id: string, actor: Actor, reason?: string): Promise<Invoice> {
      const voidReason = reason?.trim().slice(0, 500) || null;
      return settle(id, actor, 'void', (now) => ({ voided_at: now, void_reason: voidReason }), {
        reason: reason ?? null,
      });
    },

    /** Records payment of an issued or sent invoice. Idempotent. */
    markPaid(id: string, actor: Actor): Promise<Invoice> {
      return settle(id, actor, 'paid', (now) => ({ paid_at: now }), {});
    },

    /** The printable HTML page of an invoice. */
    renderHtml(invoice: Invoice): string {
      return renderInvoiceEmail(invoice, settings.operator).html;
    },

    mailer,
  };
}

export type BillingService = ReturnType<typeof createBillingService>;
