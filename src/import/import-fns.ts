/**
 * What every source mapping shares: column checks, times, duplicates. A mapping function
 * throws RowError with a message that names the problem, never a key or a secret.
 */
export class RowError extends Error {}

/** Refuses a table whose columns are not all known (a changed schema is not guessed at). */
export function checkColumns(
  table: string,
  columns: readonly string[],
  known: readonly string[],
  required: readonly string[],
): string | null {
  const unknown = columns.filter((c) => !known.includes(c));
  if (unknown.length) return `${table}: unknown column(s) ${unknown.join(', ')}`;
  const missing = required.filter((c) => !columns.includes(c));
  if (missing.length) return `${table}: missing column(s) ${missing.join(', ')}`;
  return null;
}

const SQL_TIME =
  /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A source time as ISO-8601 UTC: `2025-10-02`, `2025-10-02 16:10:00` (SQLite's
 * CURRENT_TIMESTAMP, UTC), ISO with an offset, a JS Date (pg), or epoch seconds.
 */
export function sourceTime(value: unknown, field: string): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RowError(`${field} is not a valid time`);
    return value.toISOString();
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return new Date(value * 1000).toISOString();
  }
  const m = typeof value === 'string' ? SQL_TIME.exec(value.trim()) : null;
  if (!m) throw new RowError(`${field} is not a valid time`);
  const [, date, time, zone] = m;
  const t = Date.parse(`${date}T${time ?? '00:00:00'}${zone ?? 'Z'}`);
  if (Number.isNaN(t)) throw new RowError(`${field} is not a valid time`);
  return new Date(t).toISOString();
}

/** SQLite and PostgreSQL booleans: 1/0, true/false, 't'/'f', 'true'/'false'. */
export function sourceBool(value: unknown, field: string): boolean {
  if (value === 1 || value === true || value === '1' || value === 't' || value === 'true')
    return true;
  if (value === 0 || value === false || value === '0' || value === 'f' || value === 'false')
    return false;
  throw new RowError(`${field} must be a boolean`);
}

export function sourceText(value: unknown, field: string, required = true): string | null {
  if (value === null || value === undefined || value === '') {
    if (required) throw new RowError(`${field} is missing`);
    return null;
  }
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new RowError(`${field} must be text`);
  }
  return String(value);
}

/** Splits rows into first occurrences and the repeats of an id (reported, never imported). */
export function firstById<T>(
  rows: readonly T[],
  idOf: (row: T) => string,
): {
  unique: T[];
  duplicates: T[];
} {
  const seen = new Set<string>();
  const unique: T[] = [];
  const duplicates: T[] = [];
  for (const row of rows) {
    const id = idOf(row);
    if (seen.has(id)) duplicates.push(row);
    else {
      seen.add(id);
      unique.push(row);
    }
  }
  return { unique, duplicates };
}
