import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import { invoiceNumber } from './billing-fns.ts';
import type {
  InvoiceDeliveriesTable,
  InvoiceRunsTable,
  InvoicesTable,
  InvoiceStatus,
  PaymentDetailsTable,
} from './billing-types.ts';

/** Another module's writes that must commit with this store's (the webhooks outbox). */
export type AlsoInTransaction<T = void> = (trx: Kysely<Database>, value: T) => Promise<void>;

/** What a run wants issued for one client; number and seq are allocated by the store. */
export type InvoiceDraft = Omit<InvoicesTable, 'number' | 'seq'>;

export interface InvoiceFilter {
  period?: string;
  status?: InvoiceStatus;
  limit: number;
  /** the last id of the previous page */
  cursor?: string;
}

/**
 * What a run's drafts were computed against: the invoices of the other frequency that already
 * covered part of the period (a client that switched weekly <-> monthly), per client.
 */
export interface CoveringGuard {
  /** Ids of the other frequency's periods that overlap this one. */
  periods: readonly string[];
  from: string;
  to: string;
  /** Per client: how many covering invoices its draft left out of the bill (absent: none). */
  known: ReadonlyMap<string, number>;
}

/** The invoice_counters row every issuer locks first (no invoice has this period). */
const ISSUE_LOCK = '~issue-lock';

/** Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_BATCH = 400;

/**
 * The billing tables: payment details, invoices (issuing, reading, status and delivery) and
 * invoice runs, one small store per idea composed here.
 */
export function createBillingStore(db: Kysely<Database>) {
  return {
    ...paymentDetailsStore(db),
    ...issueStore(db),
    ...invoiceReadStore(db),
    ...invoiceStatusStore(db),
    ...deliveryStore(db),
    ...runStore(db),
  };
}

export type BillingStore = ReturnType<typeof createBillingStore>;

function paymentDetailsStore(db: Kysely<Database>) {
  return {
    async upsertPaymentDetails(row: PaymentDetailsTable): Promise<void> {
      const { client_id: _id, created_at: _c, ...rest } = row;
      await db
        .insertInto('payment_details')
        .values(row)
        .onConflict((oc) => oc.column('client_id').doUpdateSet(rest))
        .execute();
    },
    async findPaymentDetails(clientId: string): Promise<PaymentDetailsTable | undefined> {
      return db
        .selectFrom('payment_details')
        .selectAll()
        .where('client_id', '=', clientId)
        .executeTakeFirst();
    },
    async deletePaymentDetails(clientId: string): Promise<boolean> {
      const res = await db
        .deleteFrom('payment_details')
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return Number(res.numDeletedRows) === 1;
    },
    /** Every client's payment details (a run reads them all at once). */
    async allPaymentDetails(): Promise<PaymentDetailsTable[]> {
      return db.selectFrom('payment_details').selectAll().execute();
    },
  };
}

function issueStore(db: Kysely<Database>) {
  return {
    /**
     * Issues the drafts of one period that do not exist yet, in one transaction. The first
     * statement takes one lock row shared by every period (a write, so SQLite upgrades its lock
     * and PostgreSQL row-locks it until commit), then the period's counter row: issuers queue
     * there, then see the invoices committed before them and number only the missing ones,
     * gap-free. The unique constraints (client_id, period) and (period, seq) back this up.
     *
     * With `guard`, a draft is not issued when its client has more covering invoices than the
     * draft was computed with: an issuer of an overlapping period (a weekly and a monthly run
     * racing after a frequency switch) billed part of these days meanwhile. Those clients come
     * back as `stale`, to be drafted again.
     */
    async issue(
      periodId: string,
      drafts: readonly InvoiceDraft[],
      guard?: CoveringGuard,
      also?: AlsoInTransaction<InvoicesTable[]>,
    ): Promise<{ created: InvoicesTable[]; existing: number; stale: string[] }> {
      if (!drafts.length) return { created: [], existing: 0, stale: [] };
      return db.transaction().execute((trx) => issueIn(trx, periodId, drafts, guard, also));
    },

    /**
     * The non-void invoices of the given periods whose billed interval overlaps [from, to):
     * what a run must not bill again after a client changed frequency.
     */
    async covering(
      periodIds: readonly string[],
      from: string,
      to: string,
    ): Promise<Array<Pick<InvoicesTable, 'client_id' | 'period_start' | 'period_end'>>> {
      if (!periodIds.length) return [];
      return db
        .selectFrom('invoices')
        .select(['client_id', 'period_start', 'period_end'])
        .where('period', 'in', periodIds)
        .where('status', '!=', 'void')
        .where('period_start', '<', to)
        .where('period_end', '>', from)
        .execute();
    },
  };
}

async function issueIn(
  trx: Kysely<Database>,
  periodId: string,
  drafts: readonly InvoiceDraft[],
  guard: CoveringGuard | undefined,
  also: AlsoInTransaction<InvoicesTable[]> | undefined,
): Promise<{ created: InvoicesTable[]; existing: number; stale: string[] }> {
  const lockRow = (period: string) =>
    trx
      .insertInto('invoice_counters')
      .values({ period, last_seq: 0 })
      .onConflict((oc) =>
        oc.column('period').doUpdateSet({ last_seq: sql`invoice_counters.last_seq` }),
      )
      .returning('last_seq');
  await lockRow(ISSUE_LOCK).execute();
  const counter = await lockRow(periodId).executeTakeFirstOrThrow();
  const { have, stale } = await issuedAndStale(trx, periodId, drafts, guard);
  let seq = Number(counter.last_seq);
  const created: InvoicesTable[] = [];
  let existing = 0;
  for (const d of drafts) {
    if (have.has(d.client_id)) {
      existing++;
      continue;
    }
    if (stale.has(d.client_id)) continue;
    have.add(d.client_id);
    seq += 1;
    created.push({ ...d, seq, number: invoiceNumber(periodId, seq) });
  }
  for (let i = 0; i < created.length; i += INSERT_BATCH) {
    await trx
      .insertInto('invoices')
      .values(created.slice(i, i + INSERT_BATCH))
      .execute();
  }
  if (created.length) {
    await trx
      .updateTable('invoice_counters')
      .set({ last_seq: seq })
      .where('period', '=', periodId)
      .execute();
  }
  if (created.length && also) await also(trx, created);
  for (const id of have) stale.delete(id);
  return { created, existing, stale: [...stale] };
}

/** The drafts' clients that already have an invoice of the period, and those gone stale. */
async function issuedAndStale(
  trx: Kysely<Database>,
  periodId: string,
  drafts: readonly InvoiceDraft[],
  guard: CoveringGuard | undefined,
): Promise<{ have: Set<string>; stale: Set<string> }> {
  const have = new Set<string>();
  const stale = new Set<string>();
  for (let i = 0; i < drafts.length; i += 1000) {
    const ids = drafts.slice(i, i + 1000).map((d) => d.client_id);
    const rows = await trx
      .selectFrom('invoices')
      .select('client_id')
      .where('period', '=', periodId)
      .where('client_id', 'in', ids)
      .execute();
    for (const r of rows) have.add(r.client_id);
    if (!guard?.periods.length) continue;
    const covering = await trx
      .selectFrom('invoices')
      .select((eb) => ['client_id', eb.fn.countAll<number>().as('n')])
      .where('period', 'in', guard.periods)
      .where('status', '!=', 'void')
      .where('period_start', '<', guard.to)
      .where('period_end', '>', guard.from)
      .where('client_id', 'in', ids)
      .groupBy('client_id')
      .execute();
    for (const r of covering) {
      if (Number(r.n) > (guard.known.get(r.client_id) ?? 0)) stale.add(r.client_id);
    }
  }
  return { have, stale };
}

function invoiceReadStore(db: Kysely<Database>) {
  return {
    async find(clientId: string, id: string): Promise<InvoicesTable | undefined> {
      return db
        .selectFrom('invoices')
        .selectAll()
        .where('client_id', '=', clientId)
        .where('id', '=', id)
        .executeTakeFirst();
    },
    /** Admin-only: the operator sees every client's invoices. Never reached from /v1. */
    async findAnyClient(id: string): Promise<InvoicesTable | undefined> {
      return db.selectFrom('invoices').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async list(clientId: string, f: InvoiceFilter): Promise<InvoicesTable[]> {
      let q = db
        .selectFrom('invoices')
        .selectAll()
        .where('client_id', '=', clientId)
        .orderBy('id', 'desc')
        .limit(f.limit);
      if (f.period) q = q.where('period', '=', f.period);
      if (f.status) q = q.where('status', '=', f.status);
      if (f.cursor) q = q.where('id', '<', f.cursor);
      return q.execute();
    },
    /** Admin-only listing across clients. */
    async listAnyClient(f: InvoiceFilter): Promise<InvoicesTable[]> {
      let q = db.selectFrom('invoices').selectAll().orderBy('id', 'desc').limit(f.limit);
      if (f.period) q = q.where('period', '=', f.period);
      if (f.status) q = q.where('status', '=', f.status);
      if (f.cursor) q = q.where('id', '<', f.cursor);
      return q.execute();
    },
    /** The period's invoices still waiting for a first successful delivery. */
    async unsentInPeriod(periodId: string): Promise<Array<{ id: string; client_id: string }>> {
      return db
        .selectFrom('invoices')
        .select(['id', 'client_id'])
        .where('period', '=', periodId)
        .where('status', '=', 'issued')
        .where('sent_at', 'is', null)
        .orderBy('seq', 'asc')
        .execute();
    },
    /** Invoices whose delivery failed transiently and whose retry time has come. */
    async dueForRetry(
      now: string,
      limit: number,
    ): Promise<Array<{ id: string; client_id: string }>> {
      return db
        .selectFrom('invoices')
        .select(['id', 'client_id'])
        .where('next_send_at', '<=', now)
        .where('status', '=', 'issued')
        .orderBy('next_send_at', 'asc')
        .limit(limit)
        .execute();
    },
  };
}

function invoiceStatusStore(db: Kysely<Database>) {
  return {
    /** Moves an invoice only from an expected status (no lost updates between nodes). */
    async transition(
      clientId: string,
      id: string,
      from: InvoiceStatus[],
      patch: Partial<
        Pick<
          InvoicesTable,
          'status' | 'paid_at' | 'voided_at' | 'void_reason' | 'next_send_at' | 'updated_at'
        >
      >,
      also?: AlsoInTransaction,
    ): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        const res = await trx
          .updateTable('invoices')
          .set(patch)
          .where('client_id', '=', clientId)
          .where('id', '=', id)
          .where('status', 'in', from)
          .executeTakeFirst();
        const moved = Number(res.numUpdatedRows) === 1;
        if (moved && also) await also(trx);
        return moved;
      });
    },
  };
}

function deliveryStore(db: Kysely<Database>) {
  return {
    /**
     * Takes the sender's lease on an invoice: true for exactly one caller until `until`, so
     * two runs (or nodes) sending the same period never mail an invoice twice.
     */
    async claimSend(clientId: string, id: string, now: string, until: string): Promise<boolean> {
      const res = await db
        .updateTable('invoices')
        .set({ sending_until: until })
        .where('client_id', '=', clientId)
        .where('id', '=', id)
        .where('status', '!=', 'void')
        .where((eb) => eb.or([eb('sending_until', 'is', null), eb('sending_until', '<', now)]))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async recordDelivery(row: InvoiceDeliveriesTable): Promise<void> {
      await db.insertInto('invoice_deliveries').values(row).execute();
    },
    /** Ends a send: delivered (issued → sent) or not (with the time of the next retry, if any). */
    async finishSend(
      clientId: string,
      id: string,
      outcome: { attempts: number; sentAt: string | null; nextSendAt: string | null; now: string },
      also?: AlsoInTransaction,
    ): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await finishSendIn(trx, clientId, id, outcome);
        if (also) await also(trx);
      });
    },
    async deliveries(clientId: string, invoiceId: string): Promise<InvoiceDeliveriesTable[]> {
      return db
        .selectFrom('invoice_deliveries')
        .selectAll()
        .where('client_id', '=', clientId)
        .where('invoice_id', '=', invoiceId)
        .orderBy('attempt', 'asc')
        .orderBy('id', 'asc')
        .execute();
    },
  };
}

function runStore(db: Kysely<Database>) {
  return {
    async startRun(periodId: string, actor: string, now: string): Promise<void> {
      await db
        .insertInto('invoice_runs')
        .values({
          period: periodId,
          started_at: now,
          finished_at: null,
          created: 0,
          existing: 0,
          actor,
        })
        .onConflict((oc) => oc.column('period').doUpdateSet({ started_at: now, actor }))
        .execute();
    },
    async finishRun(
      periodId: string,
      created: number,
      existing: number,
      now: string,
    ): Promise<void> {
      await db
        .updateTable('invoice_runs')
        .set((eb) => ({ finished_at: now, created: eb('created', '+', created), existing }))
        .where('period', '=', periodId)
        .execute();
    },
    async findRun(periodId: string): Promise<InvoiceRunsTable | undefined> {
      return db
        .selectFrom('invoice_runs')
        .selectAll()
        .where('period', '=', periodId)
        .executeTakeFirst();
    },
  };
}

/** Ends a send: delivered (issued → sent) or not (with the time of the next retry, if any). */
async function finishSendIn(
  db: Kysely<Database>,
  clientId: string,
  id: string,
  outcome: { attempts: number; sentAt: string | null; nextSendAt: string | null; now: string },
): Promise<void> {
  await db
    .updateTable('invoices')
    .set((eb) => ({
      sending_until: null,
      next_send_at: outcome.nextSendAt,
      send_attempts: eb('send_attempts', '+', outcome.attempts),
      updated_at: outcome.now,
      ...(outcome.sentAt
        ? {
            sent_at: outcome.sentAt,
            status: sql<InvoiceStatus>`case when status = 'issued' then 'sent' else status end`,
          }
        : {}),
    }))
    .where('client_id', '=', clientId)
    .where('id', '=', id)
    .execute();
}
