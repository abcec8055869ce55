import type { ImportCredentialInput } from '../credentials/index.ts';
import { RowError, sourceBool, sourceText, sourceTime } from './import-fns.ts';
import type { Row } from './source-rows.ts';

/**
 * Seed 03's PostgreSQL (OptiInfra's customer credential management): `customers`,
 * `cloud_credentials` (the secret JSON under pgcrypto's `pgp_sym_encrypt` with
 * CREDENTIAL_ENCRYPTION_KEY) and `credential_audit_log`. Pure row mapping.
 */
export const OPTIINFRA_TABLES = {
  customers: {
    known: [
      'id',
      'email',
      'company_name',
      'status',
      'subscription_tier',
      'created_at',
      'updated_at',
    ],
    required: ['id', 'email'],
  },
  cloud_credentials: {
    known: [
      'id',
      'customer_id',
      'provider',
      'credential_name',
      'encrypted_credentials',
      'credential_type',
      'permissions',
      'is_active',
      'is_verified',
      'last_verified_at',
      'last_used_at',
      'usage_count',
      'created_at',
      'updated_at',
    ],
    required: ['id', 'customer_id', 'provider', 'credential_name', 'encrypted_credentials'],
  },
  credential_audit_log: {
    known: [
      'id',
      'credential_id',
      'customer_id',
      'action',
      'action_details',
      'ip_address',
      'created_at',
    ],
    required: ['id', 'credential_id', 'action'],
  },
} as const;

export type OptiinfraTable = keyof typeof OPTIINFRA_TABLES;

/** The message of every row the given key does not open (never the key or the data). */
export const UNDECRYPTABLE =
  'cannot be decrypted with the given key (a wrong CREDENTIAL_ENCRYPTION_KEY, or damaged data)';

const STATUSES: Record<string, 'active' | 'suspended'> = {
  active: 'active',
  trial: 'active',
  suspended: 'suspended',
  cancelled: 'suspended',
};

export interface CustomerImport {
  name: string;
  email: string;
  tier: string | undefined;
  createdAt: string | null;
  /** Why the client is suspended (seed 03's suspended or cancelled), null when active. */
  suspended: string | null;
}

export function mapCustomer(row: Row): CustomerImport {
  const email = sourceText(row.email, 'email')!;
  const status = (sourceText(row.status, 'status', false) ?? 'active').trim().toLowerCase();
  const mapped = STATUSES[status];
  if (!mapped)
    throw new RowError(
      `status "${status.slice(0, 20)}" is not one of ${Object.keys(STATUSES).join(', ')}`,
    );
  const tier = sourceText(row.subscription_tier, 'subscription_tier', false)?.trim().toLowerCase();
  return {
    name: sourceText(row.company_name, 'company_name', false) ?? email,
    email,
    tier: tier || undefined,
    createdAt: sourceTime(row.created_at, 'created_at'),
    suspended: mapped === 'suspended' ? `${status} in OptiInfra` : null,
  };
}

function count(value: unknown, field: string): number {
  if (value === null || value === undefined) return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new RowError(`${field} is not a whole number`);
  return n;
}

/** A credential row's metadata and state (the secret comes from decryption). */
export function mapCredential(row: Row): Omit<ImportCredentialInput, 'credentials' | 'origin'> {
  const bool = (field: string, fallback: boolean) =>
    row[field] === null || row[field] === undefined ? fallback : sourceBool(row[field], field);
  return {
    provider: sourceText(row.provider, 'provider')!.trim().toLowerCase(),
    credentialName: sourceText(row.credential_name, 'credential_name')!,
    credentialType: sourceText(row.credential_type, 'credential_type', false) ?? undefined,
    permissions: sourceText(row.permissions, 'permissions', false) ?? undefined,
    isActive: bool('is_active', true),
    isVerified: bool('is_verified', false),
    lastVerifiedAt: sourceTime(row.last_verified_at, 'last_verified_at'),
    lastUsedAt: sourceTime(row.last_used_at, 'last_used_at'),
    usageCount: count(row.usage_count, 'usage_count'),
    createdAt: sourceTime(row.created_at, 'created_at'),
    updatedAt: sourceTime(row.updated_at, 'updated_at'),
  };
}

/** The decrypted `credentials` JSON object; its content never reaches a message. */
export function parseSecret(plain: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain);
  } catch {
    throw new RowError('the decrypted credentials are not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new RowError('the decrypted credentials are not a JSON object');
  return parsed as Record<string, unknown>;
}

const ACTIONS = ['created', 'updated', 'deleted', 'verified', 'used', 'failed'] as const;

export interface AuditImport {
  action: `credential.${(typeof ACTIONS)[number]}`;
  occurredAt: string | null;
  details: string | null;
  ip: string | null;
}

/** A seed 03 audit entry as a Keyplane audit entry of the imported credential. */
export function mapAuditEntry(row: Row): AuditImport {
  const action = sourceText(row.action, 'action')!.trim().toLowerCase();
  if (!(ACTIONS as readonly string[]).includes(action))
    throw new RowError(`action "${action.slice(0, 20)}" is not one of ${ACTIONS.join(', ')}`);
  const details = sourceText(row.action_details, 'action_details', false);
  return {
    action: `credential.${action as (typeof ACTIONS)[number]}`,
    occurredAt: sourceTime(row.created_at, 'created_at'),
    details: details === null ? null : details.slice(0, 2000),
    ip: sourceText(row.ip_address, 'ip_address', false),
  };
}
