import { formatMicros } from '../lib/money.ts';
import type {
  BillingFrequency,
  BillingLine,
  Company,
  InvoiceLineItem,
  PaymentMethod,
} from './billing-types.ts';

/**
 * A billing period: an ISO week (`2025-W40`, Monday 00:00 UTC to the next Monday) or a calendar
 * month (`2025-10`), always as a half-open UTC interval [start, end).
 */
export interface Period {
  id: string;
  kind: BillingFrequency;
  start: Date;
  end: Date;
}

const DAY_MS = 86_400_000;
const WEEK_RE = /^(\d{4})-W(\d{2})$/;
const MONTH_RE = /^(\d{4})-(\d{2})$/;

/** Monday 00:00 UTC of ISO week 1 of `year` (the week holding 4 January). */
function isoWeekOneStart(year: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const dow = (new Date(jan4).getUTCDay() + 6) % 7; // Monday = 0
  return jan4 - dow * DAY_MS;
}

/** 52 or 53. */
export function isoWeeksInYear(year: number): number {
  return Math.round((isoWeekOneStart(year + 1) - isoWeekOneStart(year)) / (7 * DAY_MS));
}

/** The ISO week-numbering year and week of an instant (UTC). */
export function isoWeekOf(date: Date): { year: number; week: number } {
  const t = date.getTime();
  let year = date.getUTCFullYear() + 1;
  while (isoWeekOneStart(year) > t) year -= 1;
  return { year, week: Math.floor((t - isoWeekOneStart(year)) / (7 * DAY_MS)) + 1 };
}

function weekPeriod(year: number, week: number): Period {
  const start = isoWeekOneStart(year) + (week - 1) * 7 * DAY_MS;
  return {
    id: `${year}-W${String(week).padStart(2, '0')}`,
    kind: 'weekly',
    start: new Date(start),
    end: new Date(start + 7 * DAY_MS),
  };
}

function monthPeriod(year: number, month: number): Period {
  return {
    id: `${year}-${String(month).padStart(2, '0')}`,
    kind: 'monthly',
    start: new Date(Date.UTC(year, month - 1, 1)),
    end: new Date(Date.UTC(year, month, 1)),
  };
}

/** `2025-W40` or `2025-10` → the period; null for anything else (week 54, month 13, …). */
export function parsePeriod(text: string): Period | null {
  const w = WEEK_RE.exec(text);
  if (w) {
    const year = Number(w[1]);
    const week = Number(w[2]);
    if (year < 1970 || week < 1 || week > isoWeeksInYear(year)) return null;
    return weekPeriod(year, week);
  }
  const m = MONTH_RE.exec(text);
  if (m) {
    const year = Number(m[1]);
    const month = Number(m[2]);
    if (year < 1970 || month < 1 || month > 12) return null;
    return monthPeriod(year, month);
  }
  return null;
}

/** The period of `kind` that contains `date`. */
export function periodContaining(kind: BillingFrequency, date: Date): Period {
  if (kind === 'monthly') return monthPeriod(date.getUTCFullYear(), date.getUTCMonth() + 1);
  const { year, week } = isoWeekOf(date);
  return weekPeriod(year, week);
}

/** The last period of `kind` that ended at or before `now`. */
export function previousPeriod(kind: BillingFrequency, now: Date): Period {
  const current = periodContaining(kind, now);
  return periodContaining(kind, new Date(current.start.getTime() - 1));
}

/** A half-open UTC interval [start, end). */
export interface Interval {
  start: Date;
  end: Date;
}

/**
 * The periods of the other kind that overlap `p`: the weeks touching a month, the one or two
 * months a week falls in. Only those can hold invoices covering part of `p` (weeks never
 * overlap weeks, nor months months).
 */
export function overlappingPeriods(p: Period): Period[] {
  const other: BillingFrequency = p.kind === 'weekly' ? 'monthly' : 'weekly';
  const out: Period[] = [];
  for (let q = periodContaining(other, p.start); q.start < p.end;) {
    out.push(q);
    q = periodContaining(other, q.end);
  }
  return out;
}

/**
 * `whole` minus the union of `covered`: the pieces left to bill, in order (none when covered
 * entirely, `[whole]` when nothing overlaps).
 */
export function uncovered(whole: Interval, covered: readonly Interval[]): Interval[] {
  const cuts = covered
    .map((c) => ({
      start: Math.max(c.start.getTime(), whole.start.getTime()),
      end: Math.min(c.end.getTime(), whole.end.getTime()),
    }))
    .filter((c) => c.start < c.end)
    .sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  let from = whole.start.getTime();
  for (const c of cuts) {
    if (c.start > from) out.push({ start: new Date(from), end: new Date(c.start) });
    from = Math.max(from, c.end);
  }
  if (from < whole.end.getTime()) out.push({ start: new Date(from), end: whole.end });
  return out;
}

/** `INV-2025-W40-0001`: the sequence is per period, at least 4 digits. */
export function invoiceNumber(periodId: string, seq: number): string {
  return `INV-${periodId}-${String(seq).padStart(4, '0')}`;
}

/**
 * Turns one client's usage lines into invoice line items: one per endpoint and unit price
 * (a price change inside the period gives two lines), sorted by endpoint. Exact integer sums.
 */
export function lineItemsOf(lines: readonly BillingLine[]): {
  lineItems: InvoiceLineItem[];
  totalMicros: number;
} {
  const merged = new Map<
    string,
    { endpoint: string; unit: number; calls: number; amount: number }
  >();
  for (const l of lines) {
    const k = `${l.endpoint}\u0000${l.unitPriceMicros}`;
    const m = merged.get(k);
    if (m) {
      m.calls += l.calls;
      m.amount += l.amountMicros;
    } else {
      merged.set(k, {
        endpoint: l.endpoint,
        unit: l.unitPriceMicros,
        calls: l.calls,
        amount: l.amountMicros,
      });
    }
  }
  const items = [...merged.values()]
    .filter((m) => m.calls > 0 || m.amount !== 0)
    .sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : a.unit - b.unit));
  let totalMicros = 0;
  const lineItems = items.map((m) => {
    totalMicros += m.amount;
    if (!Number.isSafeInteger(totalMicros)) throw new RangeError('invoice total too large');
    return {
      endpoint: m.endpoint,
      calls: m.calls,
      unitPriceMicros: m.unit,
      amountMicros: m.amount,
      unitPrice: formatMicros(m.unit),
      amount: formatMicros(m.amount),
    };
  });
  return { lineItems, totalMicros };
}

/** Groups usage lines by client. */
export function groupByClient(lines: readonly BillingLine[]): Map<string, BillingLine[]> {
  const out = new Map<string, BillingLine[]>();
  for (const l of lines) {
    const list = out.get(l.clientId);
    if (list) list.push(l);
    else out.set(l.clientId, [l]);
  }
  return out;
}

function currencyParts(currency: string): { symbol: string; before: boolean; digits: number } {
  try {
    const nf = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    const parts = nf.formatToParts(1);
    const symbolIndex = parts.findIndex((p) => p.type === 'currency');
    const intIndex = parts.findIndex((p) => p.type === 'integer');
    return {
      symbol: parts[symbolIndex]?.value ?? currency,
      before: symbolIndex < intIndex,
      digits: nf.resolvedOptions().minimumFractionDigits ?? 2,
    };
  } catch {
    return { symbol: currency, before: true, digits: 2 };
  }
}

/**
 * Micros as money for people: `€1,234.50`, `$0.002`, `CHF 12.00`, `¥1,200`. Exact: at least the
 * currency's own decimals, more (up to 6) only when the amount has them; never rounded.
 */
export function formatMoney(micros: number, currency: string): string {
  const { symbol, before, digits } = currencyParts(currency);
  const text = formatMicros(micros); // "-1234.5" style with ≥ 2 decimals
  const negative = text.startsWith('-');
  const [whole, fracRaw = ''] = (negative ? text.slice(1) : text).split('.');
  let frac = fracRaw;
  while (frac.length > digits && frac.endsWith('0')) frac = frac.slice(0, -1);
  if (frac.length < digits) frac = frac.padEnd(digits, '0');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const number = frac ? `${grouped}.${frac}` : grouped;
  const sym = /[A-Za-z]$/.test(symbol) ? `${symbol}\u00a0` : symbol;
  const body = before ? `${sym}${number}` : `${number}\u00a0${symbol}`;
  return negative ? `-${body}` : body;
}

/**
 * `ISO week 2025-W40 (2025-09-29 to 2025-10-05)`, `October 2025 (2025-10-01 to 2025-10-31)`;
 * when only part of the period was billed (earlier invoices covered the rest, after a change of
 * frequency): `September 2025, billed 2025-09-15 to 2025-09-30`.
 */
export function describePeriod(p: Period, billed?: Interval): string {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const lastDay = (end: Date) => day(new Date(end.getTime() - DAY_MS));
  const name =
    p.kind === 'weekly'
      ? `ISO week ${p.id}`
      : p.start.toLocaleString('en-US', { month: 'long', year: 'numeric', timeZone: 'UTC' });
  if (
    billed &&
    (billed.start.getTime() !== p.start.getTime() || billed.end.getTime() !== p.end.getTime())
  ) {
    return `${name}, billed ${day(billed.start)} to ${lastDay(billed.end)}`;
  }
  return `${name} (${day(p.start)} to ${lastDay(p.end)})`;
}

export const PAYMENT_METHOD_LABELS: Record<PaymentMethod, string> = {
  bank_transfer: 'Bank transfer',
  card: 'Card',
  sepa_debit: 'SEPA direct debit',
  paypal: 'PayPal',
  other: 'Other',
};

export function emptyCompany(): Company {
  return { name: null, address: null, vatId: null };
}
