import { AppError } from '../lib/errors.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

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
