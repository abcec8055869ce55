/**
 * Errors that mean "storage is not reachable right now" rather than "this query is wrong": the
 * HTTP layer answers them 503 (retry later) instead of 500. The two engines name them differently.
 */
const PG_UNAVAILABLE_CLASSES = ['08', '53', '57']; // connection exception, resources, operator intervention
const PG_UNAVAILABLE_CODES = new Set(['3D000']); // the database does not exist (dropped under us)
const NODE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
]);
const SQLITE_UNAVAILABLE_CODES = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  'SQLITE_FULL',
  'SQLITE_IOERR',
]);

export function isStorageUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (NODE_NETWORK_CODES.has(code) || PG_UNAVAILABLE_CODES.has(code)) return true;
  if (/^[0-9A-Z]{5}$/.test(code) && PG_UNAVAILABLE_CLASSES.includes(code.slice(0, 2))) return true;
  if (SQLITE_UNAVAILABLE_CODES.has(code.split('_').slice(0, 2).join('_'))) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  // node-postgres reports a dropped socket or an ended pool as plain Errors.
  return /Connection terminated|connection timeout|Cannot use a pool after calling end|Client has encountered a connection error/i.test(
    message,
  );
}

/** A unique-index (or primary-key) violation, as either engine names it. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
