import { AppError } from '../lib/errors.ts';
import { toMicros } from '../lib/money.ts';
import type { UsageEvent, UsageHourlyTable } from './usage-types.ts';

const HOUR_MS = 3_600_000;

/**
 * The price book from the config file (`pricing`): `"METHOD /route-template"` → price in
 * currency units. An entry ending in `*` (`"POST /v1/proxy/gemini/*"`) matches every endpoint
 * it is a prefix of (longest wins); `"*"` is the default; without one a call costs 0.
 */
export interface PriceBook {
  /** Unit price of one call, in micros. */
  priceOf(endpoint: string): number;
  /** The parsed book, for display. */
  entries: Array<{ endpoint: string; priceMicros: number }>;
}

export function compilePriceBook(pricing: Record<string, number | string>): PriceBook {
  const exact = new Map<string, number>();
  const prefixes: Array<[string, number]> = [];
  let fallback = 0;
  const entries: PriceBook['entries'] = [];
  for (const [endpoint, price] of Object.entries(pricing)) {
    let micros: number;
    try {
      micros = toMicros(price);
    } catch (err) {
      throw new RangeError(`pricing "${endpoint}": ${(err as Error).message}`, { cause: err });
    }
    if (micros < 0) throw new RangeError(`pricing "${endpoint}": must not be negative`);
    entries.push({ endpoint, priceMicros: micros });
    if (endpoint === '*') fallback = micros;
    else if (endpoint.endsWith('*')) prefixes.push([endpoint.slice(0, -1), micros]);
    else exact.set(endpoint, micros);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  // Endpoints are route templates, so there are few of them: memoize every answer.
  const cache = new Map<string, number>();
  return {
    entries,
    priceOf(endpoint) {
      let p = cache.get(endpoint);
      if (p !== undefined) return p;
      p = exact.get(endpoint);
      if (p === undefined) p = prefixes.find(([prefix]) => endpoint.startsWith(prefix))?.[1];
      if (p === undefined) p = fallback;
      if (cache.size < 10_000) cache.set(endpoint, p);
      return p;
    },
  };
}

/** `2025-10-02T13:45:00.123Z` → `2025-10-02T13:00:00.000Z`. */
export function hourOf(iso: string): string {
  return `${iso.slice(0, 13)}:00:00.000Z`;
}

export function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

export function ceilHour(ms: number): number {
  return Math.ceil(ms / HOUR_MS) * HOUR_MS;
}

/**
 * Splits `[from, to)` into the whole hours the rollups answer exactly and the partial hours at
 * both edges, which must be read from the raw events.
 */
export function splitRange(
  from: Date,
  to: Date,
): {
  rollup: { from: string; to: string } | null;
  raw: Array<{ from: string; to: string }>;
} {
  const f = from.getTime();
  const t = to.getTime();
  if (t <= f) return { rollup: null, raw: [] };
  const a = ceilHour(f);
  const b = floorHour(t);
  if (a >= b) return { rollup: null, raw: [{ from: from.toISOString(), to: to.toISOString() }] };
  const raw: Array<{ from: string; to: string }> = [];
  if (f < a) raw.push({ from: from.toISOString(), to: new Date(a).toISOString() });
  if (b < t) raw.push({ from: new Date(b).toISOString(), to: to.toISOString() });
  return { rollup: { from: new Date(a).toISOString(), to: new Date(b).toISOString() }, raw };
}

/**
 * Folds a batch of events into rollup increments, one per (client, hour, key, endpoint, status,
 * environment, unit price), sorted by that key so that concurrent flushes from several nodes
 * lock rollup rows in the same order (no deadlocks).
 */
export function rollupsOf(events: readonly UsageEvent[]): UsageHourlyTable[] {
  const byKey = new Map<string, UsageHourlyTable>();
  for (const e of events) {
    const hour = hourOf(e.createdAt);
    const k = `${e.clientId}\u0000${hour}\u0000${e.keyId}\u0000${e.endpoint}\u0000${e.status}\u0000${e.environment}\u0000${e.unitPriceMicros}`;
    const row = byKey.get(k);
    if (row) {
      row.calls += 1;
      row.cost_micros += e.costMicros;
      row.duration_us += e.durationUs;
    } else {
      byKey.set(k, {
        client_id: e.clientId,
        hour,
        key_id: e.keyId,
        endpoint: e.endpoint,
        status: e.status,
        environment: e.environment,
        unit_price_micros: e.unitPriceMicros,
        calls: 1,
        cost_micros: e.costMicros,
        duration_us: e.durationUs,
      });
    }
  }
  return [...byKey.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map((e) => e[1]);
}

/** Drops repeated request ids inside one batch (the table's UNIQUE handles the rest). */
export function dedupe(events: readonly UsageEvent[]): UsageEvent[] {
  const seen = new Set<string>();
  const out: UsageEvent[] = [];
  for (const e of events) {
    if (seen.has(e.requestId)) continue;
    seen.add(e.requestId);
    out.push(e);
  }
  return out;
}

/**
 * Parses a `from`/`to` query bound: a full ISO timestamp, or a date (`2025-10-01` = midnight
 * UTC). Returns null when it is neither.
 */
export function parseBound(text: string): Date | null {
  // `new Date` rolls impossible days over (2025-02-30 → March 2): refuse them instead.
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const [y, m, d] = [text.slice(0, 4), text.slice(5, 7), text.slice(8, 10)].map(Number);
    const day = new Date(Date.UTC(y!, m! - 1, d!));
    if (day.getUTCMonth() !== m! - 1 || day.getUTCDate() !== d) return null;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = new Date(`${text}T00:00:00.000Z`);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/.test(text))
    return null;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? null : d;
}

const DAY_MS = 86_400_000;

/**
 * A query's `[from, to)`: `to` defaults to now, `from` to 30 days before `to`. Throws a
 * validation error for an unreadable bound or `to` before `from`.
 */
export function resolveRange(
  q: { from?: string; to?: string },
  now: Date,
): { from: string; to: string } {
  const to = q.to ? parseBound(q.to) : now;
  const from = q.from ? parseBound(q.from) : to && new Date(to.getTime() - 30 * DAY_MS);
  if (!from || !to)
    throw new AppError(
      'validation_failed',
      'from/to must be an ISO date (2025-10-01) or timestamp',
    );
  if (to.getTime() < from.getTime())
    throw new AppError('validation_failed', '"to" must not be before "from"');
  return { from: from.toISOString(), to: to.toISOString() };
}
