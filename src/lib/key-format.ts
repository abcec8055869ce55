import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The one place the key format lives (SPEC §2):
 *
 *     {prefix}_{env}_{secret}{checksum}
 *
 * - `prefix`: per deployment (`KEYPLANE_KEY_PREFIX`, default `kp`), lowercase letters and digits.
 *   Admin tokens use `{prefix}adm`.
 * - `env`: `live` or `test`.
 * - `secret`: 32 random bytes as 43 base62 digits, left-padded with `0`.
 * - `checksum`: CRC-32 (IEEE, as zlib) of the UTF-8 text before it, as 6 base62 digits.
 *
 * Base62 digits are `0-9A-Za-z` in that order, most significant first. The checksum lets us
 * reject typos and random garbage without touching storage.
 */
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const SECRET_DIGITS = 43;
export const CHECKSUM_DIGITS = 6;
export const MAX_KEY_LENGTH = 128;

export type KeyEnvironment = 'live' | 'test';

export function toBase62(bytes: Uint8Array | bigint, width: number): string {
  let n =
    typeof bytes === 'bigint' ? bytes : BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

export function checksumOf(text: string): string {
  return toBase62(BigInt(crc32(Buffer.from(text, 'utf8')) >>> 0), CHECKSUM_DIGITS);
}

export function generateKey(prefix: string, env: KeyEnvironment): string {
  const body = `${prefix}_${env}_${toBase62(randomBytes(32), SECRET_DIGITS)}`;
  return body + checksumOf(body);
}

export interface ParsedKey {
  prefix: string;
  environment: KeyEnvironment;
  /** prefix, env and the first 4 secret characters: safe to show. */
  start: string;
}

/** What follows `{prefix}_`: the environment, then secret and checksum (43 + 6 base62 digits). */
const KEY_TAIL = `(live|test)_([0-9A-Za-z]{${SECRET_DIGITS + CHECKSUM_DIGITS}})`;
const SHAPE = new RegExp(`^([a-z0-9]{1,32})_${KEY_TAIL}$`);

/**
 * The regular expression that finds keys of these prefixes in free text (secret scanning):
 * the same layout as SHAPE, unanchored. A match still has to pass parseKey (the checksum)
 * before it counts; `scan --pattern` prints this for a secret scanning partner program.
 */
export function keyPatternSource(prefixes: readonly string[]): string {
  const names = prefixes.map((p) => p.replace(/[^a-z0-9]/g, '')).filter(Boolean);
  const prefix = names.length === 1 ? names[0]! : `(?:${names.join('|')})`;
  return `${prefix}_${KEY_TAIL.replace(/\((?!\?)/g, '(?:')}`;
}

/**
 * A global regular expression for keyPatternSource, bounded on both sides so that a key is not
 * found inside a longer run of key characters.
 */
export function keyPattern(prefixes: readonly string[]): RegExp {
  return new RegExp(`(?<![A-Za-z0-9])${keyPatternSource(prefixes)}(?![A-Za-z0-9])`, 'g');
}

/**
 * The prefix of a string shaped like a key (no checksum check: see parseKey), else null. The
 * hot path's first, cheapest filter: a key found in the verification cache was checked whole
 * when it was cached, and any other string has another hash.
 */
export function keyPrefixOf(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_KEY_LENGTH) return null;
  return SHAPE.exec(input)?.[1] ?? null;
}

/**
 * Checks shape and checksum only (no storage). Returns null for anything that is not a
 * well-formed key; never throws, whatever the input.
 */
export function parseKey(input: unknown): ParsedKey | null {
  if (typeof input !== 'string' || input.length > MAX_KEY_LENGTH) return null;
  const m = SHAPE.exec(input);
  if (!m) return null;
  const [, prefix, env, tail] = m as unknown as [string, string, KeyEnvironment, string];
  const body = input.slice(0, input.length - CHECKSUM_DIGITS);
  const given = tail.slice(SECRET_DIGITS);
  const expected = checksumOf(body);
  if (!timingSafeEqual(Buffer.from(given), Buffer.from(expected))) return null;
  return { prefix, environment: env, start: `${prefix}_${env}_${tail.slice(0, 4)}` };
}

/** SHA-256 of the whole key, hex: what storage holds (one-shot `crypto.hash`: ~2.5× createHash). */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex');
}
