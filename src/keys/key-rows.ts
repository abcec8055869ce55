import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { generateKey, hashKey, parseKey, type KeyEnvironment } from '../lib/key-format.ts';
import { parseCidr, refillPeriodStart, validateScopes } from './keys-fns.ts';
import type { ApiKey, KeyCreditPoolsTable, KeyRow, KeysTable } from './keys-types.ts';

export interface CreateKeyInput {
  name?: string | null;
  description?: string | null;
  environment?: KeyEnvironment;
  scopes?: string[];
  ipAllowlist?: string[];
  expiresAt?: string | null;
  expiresInSeconds?: number | null;
  rateLimit?: RateLimitSetting | null;
  credits?: number | null;
  refill?: { interval: 'daily' | 'monthly'; amount: number } | null;
  meta?: Record<string, unknown>;
}

const MAX_META_BYTES = 4096;

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

/** The expiry as ISO text, or null; a time that is not after `now` is refused. */
function expiryOf(input: CreateKeyInput, now: Date): string | null {
  if (input.expiresAt && input.expiresInSeconds) {
    throw new AppError('validation_failed', 'give expiresAt or expiresInSeconds, not both');
  }
  let t: number;
  if (input.expiresAt) {
    t = Date.parse(input.expiresAt);
    if (Number.isNaN(t))
      throw new AppError('validation_failed', 'expiresAt must be an ISO-8601 time');
  } else if (input.expiresInSeconds) {
    if (!Number.isInteger(input.expiresInSeconds) || input.expiresInSeconds <= 0) {
      throw new AppError('validation_failed', 'expiresInSeconds must be a positive whole number');
    }
    t = now.getTime() + input.expiresInSeconds * 1000;
  } else return null;
  // A key born dead is a mistake (a date in 1970, seconds taken for milliseconds): say so.
  if (t <= now.getTime())
    throw new AppError('validation_failed', 'expiresAt must be in the future');
  return new Date(t).toISOString();
}

function checkLimits(input: CreateKeyInput): void {
  if (input.rateLimit) {
    const { limit, windowSeconds } = input.rateLimit;
    if (
      !Number.isInteger(limit) ||
      limit < 1 ||
      !Number.isInteger(windowSeconds) ||
      windowSeconds < 1
    ) {
      throw new AppError(
        'validation_failed',
        'rateLimit needs a positive whole limit and windowSeconds',
      );
    }
  }
  if (input.credits !== undefined && input.credits !== null) {
    if (!Number.isInteger(input.credits) || input.credits < 0) {
      throw new AppError('validation_failed', 'credits must be a whole number ≥ 0');
    }
  }
  if (input.refill && (input.credits === undefined || input.credits === null)) {
    throw new AppError('validation_failed', 'refill needs credits');
  }
  if (input.refill && (!Number.isInteger(input.refill.amount) || input.refill.amount < 1)) {
    throw new AppError('validation_failed', 'refill.amount must be a positive whole number');
  }
}

/**
 * A new key's row (and its credit pool when it has credits), validated. `poolId` gives it an
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
  if (name && name.length > 200)
    throw new AppError('validation_failed', 'name must be at most 200 characters');
  if (input.description && input.description.length > 2000) {
    throw new AppError('validation_failed', 'description must be at most 2000 characters');
  }
  const scopes = validateScopes(input.scopes ?? []);
  const ipAllowlist = (input.ipAllowlist ?? []).map((c) => parseCidr(c).cidr);
  const expiresAt = expiryOf(input, now);
  checkLimits(input);
  const meta = JSON.stringify(input.meta ?? {});
  if (Buffer.byteLength(meta) > MAX_META_BYTES) {
    throw new AppError('validation_failed', `meta must be at most ${MAX_META_BYTES} bytes of JSON`);
  }
  const iso = now.toISOString();
  const id = newId('key', now.getTime());
  const pool: KeyCreditPoolsTable | null =
    poolId === null && input.credits !== undefined && input.credits !== null
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
