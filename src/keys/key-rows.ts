import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { generateKey, hashKey, parseKey } from '../lib/key-format.ts';
import type { CreateKeyInput } from './keys-input.ts';
import { parseCidr, refillPeriodStart } from './keys-fns.ts';
import type { ApiKey, KeyCreditPoolsTable, KeyRow, KeysTable } from './keys-types.ts';

export type { CreateKeyInput };

export function parseJson<T>(text: string | null, fallback: T): T {
  return text ? (JSON.parse(text) as T) : fallback;
}

export function toApiKey(r: KeyRow): ApiKey {
  return {
    id: r.id,
    clientId: r.client_id,
    start: r.start,
    name: r.name,
    description: r.description,
    environment: r.environment,
    scopes: parseJson<string[]>(r.scopes, []),
    ipAllowlist: parseJson<string[]>(r.ip_allowlist, []),
    expiresAt: r.expires_at,
    rateLimit: parseJson<RateLimitSetting | null>(r.rate_limit, null),
    credits:
      r.credit_pool_id === null
        ? null
        : {
            remaining: Number(r.credits_remaining ?? 0),
            refill:
              r.refill_interval && r.refill_amount !== null
                ? { interval: r.refill_interval, amount: Number(r.refill_amount) }
                : null,
          },
    meta: parseJson<Record<string, unknown>>(r.meta, {}),
    status: r.status,
    revokedAt: r.revoked_at,
    revokedReason: r.revoked_reason,
    retiredAt: r.retired_at,
    lastUsedAt: r.last_used_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    legacy: Number(r.legacy ?? 0) === 1,
  };
}

/**
 * The expiry as ISO text, or null. The input is well-formed (createKeyInput); what is left is
 * the clock's rule: a time that is not after `now` is refused.
 */
function expiryOf(input: CreateKeyInput, now: Date): string | null {
  let t: number;
  if (input.expiresAt) t = Date.parse(input.expiresAt);
  else if (input.expiresInSeconds) t = now.getTime() + input.expiresInSeconds * 1000;
  else return null;
  // A key born dead is a mistake (a date in 1970, seconds taken for milliseconds): say so.
  if (t <= now.getTime())
    throw new AppError('validation_failed', 'expiresAt must be in the future');
  return new Date(t).toISOString();
}

/**
 * A new key's row (and its credit pool when it has credits) from a well-formed input
 * (createKeyInput): scopes deduplicated, addresses as canonical CIDRs. `poolId` gives it an
 * existing pool instead (a roll): the input's credits are then ignored.
 */
export function buildKeyRow(
  keyPrefix: string,
  clientId: string,
  input: CreateKeyInput,
  now: Date,
  poolId: string | null = null,
): { row: KeysTable; pool: KeyCreditPoolsTable | null; apiKey: string } {
  const environment = input.environment ?? 'live';
  const apiKey = generateKey(keyPrefix, environment);
  const name = input.name?.trim() || null;
  const scopes = [...new Set(input.scopes ?? [])];
  const ipAllowlist = (input.ipAllowlist ?? []).map((c) => parseCidr(c).cidr);
  const expiresAt = expiryOf(input, now);
  const meta = JSON.stringify(input.meta ?? {});
  const iso = now.toISOString();
  const id = newId('key', now.getTime());
  const pool: KeyCreditPoolsTable | null =
    poolId === null && input.credits !== undefined
      ? {
          id: `pool_${id.slice('key_'.length)}`,
          client_id: clientId,
          remaining: input.credits,
          refill_interval: input.refill?.interval ?? null,
          refill_amount: input.refill?.amount ?? null,
          refilled_at: input.refill ? refillPeriodStart(input.refill.interval, now) : null,
          created_at: iso,
          granted: input.credits,
          grant_seq: 0,
          low_alerted: 0,
        }
      : null;
  return {
    apiKey,
    pool,
    row: {
      id,
      client_id: clientId,
      key_hash: hashKey(apiKey),
      start: parseKey(apiKey)!.start,
      name,
      description: input.description ?? null,
      environment,
      scopes: JSON.stringify(scopes),
      ip_allowlist: JSON.stringify(ipAllowlist),
      expires_at: expiresAt,
      rate_limit: input.rateLimit ? JSON.stringify(input.rateLimit) : null,
      credit_pool_id: poolId ?? pool?.id ?? null,
      meta,
      status: 'active',
      revoked_at: null,
      revoked_reason: null,
      rolled_to: null,
      retired_at: null,
      last_used_at: null,
      created_at: iso,
      updated_at: iso,
    },
  };
}

/** The row read back as the store would: a key row with its pool's credits. */
export function withPool(row: KeysTable, pool: KeyCreditPoolsTable | null): KeyRow {
  return {
    ...row,
    credits_remaining: pool?.remaining ?? null,
    refill_interval: pool?.refill_interval ?? null,
    refill_amount: pool?.refill_amount ?? null,
    refilled_at: pool?.refilled_at ?? null,
  };
}
