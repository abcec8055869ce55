import type { AuditService } from '../audit/index.ts';
import type { Mailer } from '../infra/mailer.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError, isAppError } from '../lib/errors.ts';
import type { EmitEvent } from '../webhooks/index.ts';
import type { BillingStore } from './billing-store.ts';
import type { BillingLine, Invoice, InvoicesTable } from './billing-types.ts';
import type { OperatorDetails } from './invoice-html.ts';
import { toInvoice } from './billing-rows.ts';

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

/** What every part of the billing service shares: its deps with the settings' defaults filled. */
export interface BillingContext extends BillingServiceDeps {
  sendAttempts: number;
  sendBackoffMs: number;
  retryBaseMs: number;
  maxAttempts: number;
  chunkSize: number;
  sendConcurrency: number;
  report: (err: unknown, context: Record<string, unknown>) => void;
}

export function billingContext(deps: BillingServiceDeps): BillingContext {
  const { settings } = deps;
  return {
    ...deps,
    sendAttempts: settings.sendAttempts ?? 3,
    sendBackoffMs: settings.backoffMs ?? 500,
    retryBaseMs: settings.retryBaseMs ?? 5 * 60_000,
    maxAttempts: settings.maxAttempts ?? 12,
    chunkSize: settings.chunkSize ?? 500,
    sendConcurrency: settings.sendConcurrency ?? 4,
    report: deps.onError ?? (() => undefined),
  };
}

export async function mustFindClient(
  ctx: BillingContext,
  clientId: string,
): Promise<BillingClient> {
  const c = await ctx.clients.find(clientId);
  if (!c) throw new AppError('not_found', 'client not found');
  return c;
}

/** An invoice of any client, for the operator's calls. */
export async function adminRow(ctx: BillingContext, id: string): Promise<InvoicesTable> {
  const row = await ctx.billingStore.findAnyClient(id);
  if (!row) throw new AppError('not_found', 'invoice not found');
  return row;
}

export async function withDeliveries(ctx: BillingContext, row: InvoicesTable): Promise<Invoice> {
  return toInvoice(row, await ctx.billingStore.deliveries(row.client_id, row.id));
}

export function assertMailer(ctx: BillingContext) {
  if (!ctx.mailer.enabled) throw new AppError('not_configured', ctx.mailer.describe);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
