import type { Actor } from '../audit/index.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { isUniqueViolation } from '../store/store-errors.ts';
import type { EmitEvent } from '../webhooks/index.ts';
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
import { assertMailer, sleep, type BillingClient, type BillingContext } from './billing-context.ts';
import { deliverMany } from './billing-delivery.ts';
import { actorLabel, invoiceEvent } from './billing-rows.ts';
import type { CoveringGuard, InvoiceDraft } from './billing-store.ts';
import type {
  BillingFrequency,
  BillingLine,
  BillTo,
  InvoicesTable,
  PaymentDetailsTable,
  RunProgress,
  RunResult,
} from './billing-types.ts';

export interface RunInput {
  period?: string;
  send?: boolean;
  actor: Actor;
  onProgress?: (p: RunProgress) => void;
}

/** What a run knows once it has read usage, payment details and the clients. */
interface RunPlan {
  period: Period;
  range: { from: string; to: string };
  /** the periods of the other frequency that overlap this one */
  otherPeriods: string[];
  startedAt: string;
  byClient: Map<string, BillingLine[]>;
  detailsOf: Map<string, PaymentDetailsTable>;
  directory: Map<string, BillingClient>;
  /** the clients this run invoices */
  due: Set<string>;
  wantsEmpty: (clientId: string) => boolean;
}

type Issued = { created: number; existing: number; createdTotalMicros: number };

/** Invoice runs: issuing one invoice per client for a period. */
export function createBillingRun(ctx: BillingContext) {
  return {
    /**
     * Issues one invoice per client with billable usage in the period (weekly clients for a
     * week, monthly clients for a month), optionally sends every unsent invoice of the period.
     * Running it again, or twice at once, issues nothing twice and skips nobody.
     */
    run: (input: RunInput) => run(ctx, input),

    /** Has a run of this period completed (the scheduler's skip check)? */
    async runFinished(periodId: string): Promise<boolean> {
      return Boolean((await ctx.billingStore.findRun(periodId))?.finished_at);
    },
  };
}

async function run(ctx: BillingContext, input: RunInput): Promise<RunResult> {
  const { billingStore, clock } = ctx;
  const started = Date.now();
  const period = periodOf(ctx, input.period);
  if (period.end.getTime() > clock.now().getTime()) {
    throw new AppError('validation_failed', `period ${period.id} has not ended yet`);
  }
  if (input.send) assertMailer(ctx);
  const startedAt = clock.now().toISOString();
  await billingStore.startRun(period.id, actorLabel(input.actor), startedAt);
  input.onProgress?.({ phase: 'usage', done: 0, total: 1 });
  const plan = await planRun(ctx, period, startedAt);
  input.onProgress?.({ phase: 'usage', done: 1, total: 1 });
  const { clients, ...issued } = await issueRounds(ctx, plan, input.onProgress);

  let sent = 0;
  let sendFailed = 0;
  if (input.send) {
    const unsent = await billingStore.unsentInPeriod(period.id);
    ({ sent, failed: sendFailed } = await deliverMany(ctx, unsent, input.onProgress));
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
    ...issued,
    sent,
    sendFailed,
    durationMs: Date.now() - started,
  };
  await ctx.audit.record({
    actor: input.actor,
    action: 'invoices.run',
    targetType: 'invoice_run',
    targetId: period.id,
    data: { ...result },
  });
  return result;
}

function periodOf(ctx: BillingContext, text: string | undefined): Period {
  if (!text) return previousPeriod('weekly', ctx.clock.now());
  const p = parsePeriod(text);
  if (!p) {
    throw new AppError(
      'validation_failed',
      `period must be an ISO week like 2025-W40 or a month like 2025-10, got "${text}"`,
    );
  }
  return p;
}

async function planRun(ctx: BillingContext, period: Period, startedAt: string): Promise<RunPlan> {
  const { billingStore, usage, settings } = ctx;
  const [details, directory] = await Promise.all([
    billingStore.allPaymentDetails(),
    allClients(ctx),
  ]);
  // Monthly periods bill only the (usually few) monthly clients: ask usage for just those.
  const monthly = details.filter((d) => d.frequency === 'monthly').map((d) => d.client_id);
  const range = { from: period.start.toISOString(), to: period.end.toISOString() };
  const lines = await (period.kind === 'weekly'
    ? usage.billingLines(range)
    : monthly.length
      ? usage.billingLines({ ...range, clientIds: monthly })
      : Promise.resolve([]));
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
  const otherPeriods = overlappingPeriods(period).map((p) => p.id);
  return {
    period,
    range,
    otherPeriods,
    startedAt,
    byClient,
    detailsOf,
    directory,
    due,
    wantsEmpty,
  };
}

async function allClients(ctx: BillingContext): Promise<Map<string, BillingClient>> {
  const out = new Map<string, BillingClient>();
  let cursor: string | undefined;
  for (;;) {
    const page = await ctx.clients.list({ limit: 1000, cursor });
    for (const c of page.data) out.set(c.id, c);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}

/**
 * A run of an overlapping period may bill some of these clients' days between our covering
 * check and our issue: the store then hands those clients back (stale), and they are drafted
 * again against the invoices as they are now.
 */
async function issueRounds(
  ctx: BillingContext,
  plan: RunPlan,
  onProgress: ((p: RunProgress) => void) | undefined,
): Promise<Issued & { clients: number }> {
  const { period, range, otherPeriods } = plan;
  let pending: Set<string> = plan.due;
  let clients = 0;
  const issued = { created: 0, existing: 0, createdTotalMicros: 0 };
  for (let round = 1; pending.size; round++) {
    const coveredOf = await coveringNow(ctx, plan);
    const batch = await draftsFor(ctx, plan, pending, coveredOf);
    const known = new Map([...coveredOf].map(([id, list]) => [id, list.length]));
    const guard = { periods: otherPeriods, from: range.from, to: range.to, known };
    const r = await issueAll(ctx, period, batch, onProgress, guard);
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
  return { clients, ...issued };
}

/**
 * Invoices of the other frequency (issued before the client switched) that already billed
 * part of this period: that part is never billed again.
 */
async function coveringNow(ctx: BillingContext, plan: RunPlan): Promise<Map<string, Interval[]>> {
  const coveredOf = new Map<string, Interval[]>();
  const { otherPeriods, range } = plan;
  for (const c of await ctx.billingStore.covering(otherPeriods, range.from, range.to)) {
    const list = coveredOf.get(c.client_id) ?? [];
    list.push({ start: new Date(c.period_start), end: new Date(c.period_end) });
    coveredOf.set(c.client_id, list);
  }
  return coveredOf;
}

/** Drafts for these clients, leaving out what `coveredOf` says is billed elsewhere. */
async function draftsFor(
  ctx: BillingContext,
  plan: RunPlan,
  clientIds: Iterable<string>,
  coveredOf: Map<string, Interval[]>,
): Promise<InvoiceDraft[]> {
  const { period } = plan;
  const drafts: InvoiceDraft[] = [];
  for (const clientId of [...clientIds].sort()) {
    // The billed interval: the period minus what the client's non-void invoices cover.
    // Two pieces (a hole covered by another invoice) are both billed; periodStart and
    // periodEnd then span them, the days between being on that other invoice.
    let billed: Interval[] = [period];
    let clientLines = plan.byClient.get(clientId) ?? [];
    const covered = coveredOf.get(clientId);
    if (covered) {
      billed = uncovered(period, covered);
      if (!billed.length) continue; // already invoiced entirely: no invoice, no number
      clientLines = await linesOf(ctx, clientId, billed);
    }
    const { lineItems, totalMicros } = lineItemsOf(clientLines);
    if (totalMicros === 0 && !plan.wantsEmpty(clientId)) continue; // nothing billable
    drafts.push(draftOf(ctx, plan, clientId, billed, JSON.stringify(lineItems), totalMicros));
  }
  return drafts;
}

async function linesOf(ctx: BillingContext, clientId: string, billed: Interval[]) {
  const pieces = await Promise.all(
    billed.map((b) =>
      ctx.usage.billingLines({
        from: b.start.toISOString(),
        to: b.end.toISOString(),
        clientIds: [clientId],
      }),
    ),
  );
  return pieces.flat();
}

function draftOf(
  ctx: BillingContext,
  plan: RunPlan,
  clientId: string,
  billed: Interval[],
  lineItems: string,
  totalMicros: number,
): InvoiceDraft {
  const { period, startedAt } = plan;
  const d = plan.detailsOf.get(clientId);
  return {
    id: newId('inv', ctx.clock.now().getTime()),
    client_id: clientId,
    period: period.id,
    period_start: billed[0]!.start.toISOString(),
    period_end: billed[billed.length - 1]!.end.toISOString(),
    currency: d?.currency ?? ctx.settings.currency,
    status: 'issued',
    total_micros: totalMicros,
    line_items: lineItems,
    bill_to: JSON.stringify(billTo(plan.directory.get(clientId), clientId, d)),
    issued_at: startedAt,
    sent_at: null,
    paid_at: null,
    voided_at: null,
    void_reason: null,
    send_attempts: 0,
    next_send_at: null,
    sending_until: null,
    updated_at: startedAt,
  };
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
  ctx: BillingContext,
  period: Period,
  drafts: InvoiceDraft[],
  onProgress: ((p: RunProgress) => void) | undefined,
  guard: CoveringGuard,
): Promise<Issued & { stale: string[] }> {
  const { chunkSize } = ctx;
  const events = issuedEvents(ctx.emit);
  let created = 0;
  let existing = 0;
  let createdTotalMicros = 0;
  const stale: string[] = [];
  for (let i = 0; i < drafts.length; i += chunkSize) {
    const chunk = drafts.slice(i, i + chunkSize);
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await ctx.billingStore.issue(period.id, chunk, guard, events);
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

/** The `invoice.issued` events, written in the transaction that issues the invoices. */
function issuedEvents(emit: EmitEvent | undefined) {
  if (!emit) return undefined;
  return async (trx: Parameters<EmitEvent>[0], rows: InvoicesTable[]) => {
    for (const r of rows)
      await emit(trx, {
        type: 'invoice.issued',
        clientId: r.client_id,
        data: { invoice: invoiceEvent(r) },
      });
  };
}
