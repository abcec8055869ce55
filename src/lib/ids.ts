import { randomBytes } from 'node:crypto';

/**
 * Every id Keyplane hands out: a kind prefix, then 10 hex digits of milliseconds (time-sortable)
 * and 12 random hex digits. `client_0193f3a1b2c4d5e6f708192a3b`.
 */
const PREFIXES = {
  client: 'client',
  key: 'key',
  pool: 'pool',
  adminToken: 'adm',
  audit: 'aud',
  cred: 'cred',
  inv: 'inv',
  delivery: 'dlv',
  usage: 'use',
  req: 'req',
  dsess: 'dsess',
  leak: 'leak',
  webhookEndpoint: 'ep',
  webhookMessage: 'msg',
  webhookDelivery: 'whd',
  webhookAttempt: 'atm',
  budget: 'bud',
  budgetReservation: 'bres',
} as const;

export type IdKind = keyof typeof PREFIXES;

// randomBytes is a synchronous call into OpenSSL (~4 µs); ids are minted on every request, so
// random bits come from a pool refilled 4 KiB at a time.
let pool = randomBytes(4096);
let offset = 0;
function random12Hex(): string {
  if (offset + 6 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + 6);
  offset += 6;
  return hex;
}

export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${PREFIXES[kind]}_${now.toString(16).padStart(12, '0')}${random12Hex()}`;
}

const ID_SHAPE = /^[a-z]+_[0-9a-f]{24}$/;

/**
 * A cheap shape check so garbage never reaches a query: the keys and clients services look an id
 * up only when it has its kind's shape, and answer not_found (exactly like a missing one)
 * otherwise, for every face at once (HTTP params, CLI arguments, dashboard).
 */
export function isIdOf(kind: IdKind, value: string): boolean {
  return value.startsWith(`${PREFIXES[kind]}_`) && ID_SHAPE.test(value);
}
