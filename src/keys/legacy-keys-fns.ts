import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { parseCidr, validateScopes } from './keys-fns.ts';
import type { KeysTable } from './keys-types.ts';

/**
 * Legacy keys: keys another system issued, imported by their SHA-256 alone (seed 01 stores
 * `key_hash = sha256(key)`, seed 05 hashes its `permas_{env}_{random}` tokens). They have no
 * Keyplane checksum, so verification finds them by hash without the offline MALFORMED check —
 * only while a deployment has legacy keys at all (see the keys service).
 */

/** Longer strings are never looked up as legacy keys (a bound on what reaches the hash). */
export const MAX_LEGACY_KEY_LENGTH = 256;

/** Could this presented string be a legacy key? Anything printable, bounded, without spaces. */
export function isLegacyCandidate(input: unknown): input is string {
  return (
    typeof input === 'string' &&
    input.length >= 8 &&
    input.length <= MAX_LEGACY_KEY_LENGTH &&
    /^[\x21-\x7e]+$/.test(input)
  );
}

export interface LegacyKeyInput {
  /** SHA-256 of the whole key, hex (any case). */
  keyHash: string;
  /** What lists show instead of the key's first characters, e.g. `permas_live_…`. */
  start: string;
  name?: string | null;
  description?: string | null;
  environment?: KeyEnvironment;
  scopes?: string[];
  ipAllowlist?: string[];
  expiresAt?: string | null;
  revoked?: { at: string; reason: string | null } | null;
  createdAt?: string | null;
  lastUsedAt?: string | null;
  meta?: Record<string, unknown>;
}

const HASH = /^[0-9a-f]{64}$/i;

function iso(text: string | null | undefined, field: string): string | null {
  if (!text) return null;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new AppError('validation_failed', `${field} is not a valid time`);
  return new Date(t).toISOString();
}

/** The row of an imported key; throws validation_failed on a bad hash, scope, CIDR or time. */
export function legacyKeyRow(clientId: string, input: LegacyKeyInput, now: Date): KeysTable {
  if (!HASH.test(input.keyHash)) {
    throw new AppError('validation_failed', 'key hash must be 64 hex digits (SHA-256)');
  }
  const at = now.toISOString();
  const created = iso(input.createdAt, 'createdAt') ?? at;
  return {
    id: newId('key', Date.parse(created)),
    client_id: clientId,
    key_hash: input.keyHash.toLowerCase(),
    start: input.start.slice(0, 40),
    name: input.name?.trim().slice(0, 200) || null,
    description: input.description?.slice(0, 2000) ?? null,
    environment: input.environment ?? 'live',
    scopes: JSON.stringify(validateScopes(input.scopes ?? ['*'])),
    ip_allowlist: JSON.stringify((input.ipAllowlist ?? []).map((c) => parseCidr(c).cidr)),
    expires_at: iso(input.expiresAt, 'expiresAt'),
    rate_limit: null,
    credit_pool_id: null,
    meta: JSON.stringify(input.meta ?? {}),
    status: input.revoked ? 'revoked' : 'active',
    revoked_at: input.revoked ? (iso(input.revoked.at, 'revokedAt') ?? at) : null,
    revoked_reason: input.revoked?.reason?.slice(0, 500) ?? null,
    rolled_to: null,
    // A revoked legacy key may be reactivated: it was not retired, only switched off.
    retired_at: null,
    last_used_at: iso(input.lastUsedAt, 'lastUsedAt'),
    created_at: created,
    updated_at: at,
    legacy: 1,
  };
}
