import type { BillingFrequency, PaymentDetailsInput, PaymentMethod } from '../billing/index.ts';
import type { LegacyKeyInput } from '../keys/index.ts';
import { toMicros } from '../lib/money.ts';
import { RowError, sourceBool, sourceText, sourceTime } from './import-fns.ts';

/**
 * Seed 01/02's SQLite database (Vigint): `clients`, `api_keys` (key_hash = sha256(key),
 * is_active), `api_usage` (api_key_id, endpoint, cost, timestamp) and `payment_details`
 * (payment method and frequency). Pure row mapping: what each row becomes in Keyplane.
 */
export const VIGINT_TABLES = {
  clients: {
    known: ['id', 'name', 'email', 'created_at', 'updated_at', 'is_active'],
    required: ['id', 'name', 'email'],
  },
  api_keys: {
    known: ['id', 'client_id', 'key_hash', 'is_active', 'name', 'created_at', 'last_used_at'],
    required: ['id', 'client_id', 'key_hash', 'is_active'],
  },
  api_usage: {
    known: ['id', 'api_key_id', 'endpoint', 'cost', 'timestamp'],
    required: ['id', 'api_key_id', 'endpoint', 'cost', 'timestamp'],
  },
  payment_details: {
    known: [
      'id',
      'client_id',
      'payment_method',
      'frequency',
      'billing_email',
      'company_name',
      'company_address',
      'vat_id',
      'currency',
      'created_at',
      'updated_at',
    ],
    required: ['client_id', 'payment_method'],
  },
} as const;

export type VigintTable = keyof typeof VIGINT_TABLES;
export type Row = Record<string, unknown>;

export function mapClient(row: Row): {
  name: string;
  email: string;
  createdAt: string | null;
  active: boolean;
} {
  return {
    name: sourceText(row.name, 'name')!,
    email: sourceText(row.email, 'email')!,
    createdAt: sourceTime(row.created_at, 'created_at'),
    active: row.is_active === undefined ? true : sourceBool(row.is_active, 'is_active'),
  };
}

const METHODS: Record<string, PaymentMethod> = {
  card: 'card',
  credit_card: 'card',
  creditcard: 'card',
  bank_transfer: 'bank_transfer',
  bank: 'bank_transfer',
  wire: 'bank_transfer',
  transfer: 'bank_transfer',
  sepa: 'sepa_debit',
  sepa_debit: 'sepa_debit',
  paypal: 'paypal',
};

export function mapPayment(row: Row): PaymentDetailsInput {
  const method = sourceText(row.payment_method, 'payment_method')!.trim().toLowerCase();
  const frequency = (sourceText(row.frequency, 'frequency', false) ?? 'weekly').toLowerCase();
  if (frequency !== 'weekly' && frequency !== 'monthly') {
    throw new RowError(`frequency must be weekly or monthly (got "${frequency.slice(0, 20)}")`);
  }
  return {
    method: METHODS[method.replace(/[\s-]+/g, '_')] ?? 'other',
    frequency: frequency as BillingFrequency,
    billingEmail: sourceText(row.billing_email, 'billing_email', false),
    currency: sourceText(row.currency, 'currency', false)?.trim().toUpperCase() ?? undefined,
    company: {
      name: sourceText(row.company_name, 'company_name', false),
      address: sourceText(row.company_address, 'company_address', false),
      vatId: sourceText(row.vat_id, 'vat_id', false),
    },
  };
}

const HEX64 = /^[0-9a-f]{64}$/i;

/** A Vigint key: its sha256 as a legacy key with every scope, like seed 01's single key. */
export function mapKey(row: Row): LegacyKeyInput {
  const hash = sourceText(row.key_hash, 'key_hash')!;
  if (!HEX64.test(hash)) throw new RowError('key_hash is not a SHA-256 (64 hex digits)');
  const active = sourceBool(row.is_active, 'is_active');
  const createdAt = sourceTime(row.created_at, 'created_at');
  return {
    keyHash: hash.toLowerCase(),
    // The key itself was never stored: lists show where it came from instead of its start.
    start: `vigint_${String(row.id).slice(0, 12)}`,
    name: sourceText(row.name, 'name', false),
    environment: 'live',
    scopes: ['*'],
    createdAt,
    lastUsedAt: sourceTime(row.last_used_at, 'last_used_at'),
    revoked: active
      ? null
      : { at: createdAt ?? new Date(0).toISOString(), reason: 'inactive in Vigint' },
    meta: { importedFrom: 'vigint', sourceId: String(row.id) },
  };
}

/** A Vigint usage row: one call at its recorded cost (euros → integer micros, exact). */
export function mapUsage(row: Row): { endpoint: string; priceMicros: number; at: string } {
  const endpoint = sourceText(row.endpoint, 'endpoint')!;
  if (endpoint.length > 200) throw new RowError('endpoint is longer than 200 characters');
  let priceMicros: number;
  try {
    priceMicros = toMicros(row.cost as number | string);
  } catch {
    throw new RowError('cost is not an amount with at most 6 decimals');
  }
  if (priceMicros < 0) throw new RowError('cost is negative');
  const at = sourceTime(row.timestamp, 'timestamp');
  if (!at) throw new RowError('timestamp is missing');
  return { endpoint, priceMicros, at };
}
