import type { LegacyKeyInput } from '../keys/index.ts';
import { RowError, sourceBool, sourceText, sourceTime } from './import-fns.ts';
import type { Row } from './source-rows.ts';

/**
 * Seed 05's key store (the `auth-api-client` package's API key service; its SQLite fallback at
 * DB_PATH). One row per token: `token_id`, `provider_id` (whose key), `name`, `description`,
 * `environment` (test|live), `token_hash` (SHA-256 of the whole `permas_{env}_{random}` token;
 * the token itself is shown once at creation and never stored), `scopes` and `ip_restrictions`
 * (JSON lists), `expires_at`, `is_revoked` with `revoked_at` and `revocation_reason`, and the
 * usage statistics `request_count`, `last_used_at`. Pure row mapping.
 */
export const PERMAS_TABLES = {
  api_keys: {
    known: [
      'token_id',
      'provider_id',
      'name',
      'description',
      'environment',
      'token_hash',
      'token_prefix',
      'scopes',
      'ip_restrictions',
      'created_at',
      'updated_at',
      'expires_at',
      'last_used_at',
      'is_revoked',
      'revoked_at',
      'revocation_reason',
      'request_count',
    ],
    required: ['token_id', 'provider_id', 'token_hash', 'environment', 'scopes'],
  },
} as const;

/**
 * Seed 05's scopes in Keyplane: `api:access` (its default, "may call the API") and any other
 * `area:action` scope keep their names, so a service that checks them through verify keeps
 * working; `*` and `admin` (full access) become Keyplane's `*`. A scope Keyplane cannot hold
 * refuses the row.
 */
export function mapScopes(scopes: string[]): string[] {
  const out = new Set<string>();
  for (const raw of scopes) {
    const s = raw.trim();
    if (s === '*' || s === 'admin') out.add('*');
    else if (/^[a-z0-9][a-z0-9_.:-]{0,63}$/i.test(s)) out.add(s);
    else throw new RowError(`scope "${s.slice(0, 40)}" is not a valid Keyplane scope`);
  }
  return [...out];
}

/** A JSON list of strings (a plain comma list is accepted too); empty for null. */
export function sourceList(value: unknown, field: string): string[] {
  if (value === null || value === undefined || value === '') return [];
  if (typeof value !== 'string') throw new RowError(`${field} must be a JSON list`);
  const text = value.trim();
  if (!text.startsWith('['))
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RowError(`${field} is not valid JSON`);
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
    throw new RowError(`${field} must be a JSON list of strings`);
  return parsed as string[];
}

const HEX64 = /^[0-9a-f]{64}$/i;

function environmentOf(row: Row): 'live' | 'test' {
  const env = sourceText(row.environment, 'environment')!.trim().toLowerCase();
  if (env === 'live' || env === 'test') return env;
  throw new RowError(`environment must be test or live (got "${env.slice(0, 20)}")`);
}

function revocationOf(row: Row): LegacyKeyInput['revoked'] {
  const revoked =
    row.is_revoked === undefined || row.is_revoked === null
      ? false
      : sourceBool(row.is_revoked, 'is_revoked');
  if (!revoked) return null;
  const at =
    sourceTime(row.revoked_at, 'revoked_at') ??
    sourceTime(row.updated_at, 'updated_at') ??
    sourceTime(row.created_at, 'created_at') ??
    new Date(0).toISOString();
  return { at, reason: sourceText(row.revocation_reason, 'revocation_reason', false) };
}

/** A seed 05 token as a legacy key: its hash, scopes, IP restrictions, expiry, revocation. */
export function mapPermasKey(row: Row): LegacyKeyInput {
  const hash = sourceText(row.token_hash, 'token_hash')!;
  if (!HEX64.test(hash)) throw new RowError('token_hash is not a SHA-256 (64 hex digits)');
  const environment = environmentOf(row);
  const ips = sourceList(row.ip_restrictions, 'ip_restrictions');
  for (const ip of ips) {
    if (!/^[0-9a-f.:/]+$/i.test(ip))
      throw new RowError(`ip_restrictions: "${ip.slice(0, 45)}" is not an IP address or CIDR`);
  }
  const count = row.request_count;
  if (count !== undefined && count !== null && !Number.isSafeInteger(Number(count)))
    throw new RowError('request_count is not a whole number');
  const tokenId = String(row.token_id);
  return {
    keyHash: hash.toLowerCase(),
    // The token was never stored: lists show its prefix and environment and where it came from.
    start: `permas_${environment}_${tokenId.slice(0, 12)}`,
    name: sourceText(row.name, 'name', false),
    description: sourceText(row.description, 'description', false),
    environment,
    scopes: mapScopes(sourceList(row.scopes, 'scopes')),
    ipAllowlist: ips,
    expiresAt: sourceTime(row.expires_at, 'expires_at'),
    createdAt: sourceTime(row.created_at, 'created_at'),
    lastUsedAt: sourceTime(row.last_used_at, 'last_used_at'),
    revoked: revocationOf(row),
    meta: {
      importedFrom: 'permas',
      sourceId: tokenId,
      providerId: String(row.provider_id),
      requestCount: count === undefined || count === null ? 0 : Number(count),
    },
  };
}
