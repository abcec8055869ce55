/**
 * The shapes of Keyplane's HTTP API (SPEC §3, §11), written out structurally so the SDK needs
 * nothing from the server package. Field names are the API's (camelCase); times are ISO-8601
 * strings; money is integer micro-units (`…Micros`) plus a decimal string.
 */

export type Environment = 'live' | 'test';

/** `?limit=&cursor=` → `{data, nextCursor}` */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface PageQuery {
  limit?: number;
  cursor?: string;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export interface Client {
  id: string;
  name: string;
  email: string | null;
  tier: string;
  status: 'active' | 'suspended' | 'deleted';
  metadata: Record<string, unknown>;
  defaultRateLimit: RateLimit | null;
  createdAt: string;
  updatedAt: string;
  suspendedAt: string | null;
  deletedAt: string | null;
}

/** Key metadata; never the key itself. */
export interface ApiKey {
  id: string;
  clientId: string;
  /** prefix, environment and the first 4 secret characters: safe to show */
  start: string;
  name: string | null;
  description: string | null;
  environment: Environment;
  scopes: string[];
  ipAllowlist: string[];
  expiresAt: string | null;
  rateLimit: RateLimit | null;
  credits: {
    remaining: number;
    refill: { interval: 'daily' | 'monthly'; amount: number } | null;
  } | null;
  meta: Record<string, unknown>;
  status: 'active' | 'revoked';
  revokedAt: string | null;
  revokedReason: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CreateClientInput {
  name: string;
  email: string;
  tier?: string;
  metadata?: Record<string, unknown>;
  defaultRateLimit?: RateLimit;
  /** of the first key; default live */
  environment?: Environment;
}

export interface UpdateClientInput {
  name?: string;
  email?: string;
  tier?: string;
  metadata?: Record<string, unknown>;
  defaultRateLimit?: RateLimit | null;
}

/** Key creation body (admin and self-service). */
export interface CreateKeyInput {
  name?: string;
  description?: string;
  environment?: Environment;
  scopes?: string[];
  /** IPv4/IPv6 CIDRs or addresses */
  ipAllowlist?: string[];
  expiresAt?: string;
  expiresInSeconds?: number;
  rateLimit?: RateLimit;
  /** calls this key may make */
  credits?: number;
  refill?: { interval: 'daily' | 'monthly'; amount: number };
  meta?: Record<string, unknown>;
}

/** A creation answer: the key is in `apiKey`, shown exactly once. */
export interface CreatedKey {
  key: ApiKey;
  apiKey: string;
}

export interface CreatedClient extends CreatedKey {
  client: Client;
}

export interface RolledKey extends CreatedKey {
  /** the old key, valid until its grace deadline */
  rolled: ApiKey;
}

/** Outcome codes of verification (SPEC §2). */
export type VerifyCode =
  | 'VALID'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'REVOKED'
  | 'EXPIRED'
  | 'CLIENT_SUSPENDED'
  | 'IP_NOT_ALLOWED'
  | 'INSUFFICIENT_SCOPE'
  | 'RATE_LIMITED'
  | 'USAGE_EXCEEDED';

export interface VerifyInput {
  key: string;
  /** every one must be held by the key */
  scopes?: string[];
  /** the caller's address, for IP allowlists */
  ip?: string;
  /** `METHOD /route-template`, for per-endpoint rate limits */
  endpoint?: string;
}

/** `POST /admin/v1/verify` (always 200: an invalid key is an answer, not an error). */
export interface VerifyResult {
  valid: boolean;
  code: VerifyCode;
  clientId: string | null;
  keyId: string | null;
  scopes: string[];
  environment: Environment | null;
  /** `reset` is epoch milliseconds */
  ratelimit: { limit: number; remaining: number; reset: number } | null;
  /** credits left; null when the key has no credit limit */
  remaining: number | null;
  meta: Record<string, unknown>;
}

export interface UsageQuery {
  /** inclusive start: ISO date or timestamp (default 30 days ago) */
  from?: string;
  /** exclusive end (default now) */
  to?: string;
}

export interface UsageAmounts {
  calls: number;
  testCalls: number;
  costMicros: number;
  cost: string;
}

export interface UsageSummary {
  from: string;
  to: string;
  currency: string;
  totals: UsageAmounts;
  groups: Array<UsageAmounts & { group: string }>;
}

export interface KeyUsage {
  keyId: string;
  from: string;
  to: string;
  currency: string;
  calls: number;
  costMicros: number;
  cost: string;
  lastUsedAt: string | null;
  endpoints: Array<{ endpoint: string; calls: number; costMicros: number; cost: string }>;
  statusCodes: Record<string, number>;
}

/** One call to a service's own endpoint, metered into Keyplane. */
export interface UsageEventInput {
  /** globally unique (the SDK uses a UUID): a repeated id is counted once */
  requestId: string;
  clientId: string;
  keyId: string;
  /** `METHOD /route-template`, as the price book names it */
  endpoint: string;
  method: string;
  status: number;
  durationMs?: number;
}

export interface InvoiceLineItem {
  endpoint: string;
  calls: number;
  unitPriceMicros: number;
  amountMicros: number;
  unitPrice: string;
  amount: string;
}

export interface Invoice {
  id: string;
  number: string;
  clientId: string;
  period: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  status: string;
  totalMicros: number;
  total: string;
  lineItems: InvoiceLineItem[];
  createdAt: string;
  issuedAt: string;
  sentAt: string | null;
  paidAt: string | null;
  voidedAt: string | null;
  [field: string]: unknown;
}

export interface InvoiceQuery extends PageQuery {
  period?: string;
  status?: string;
}

export interface InvoiceRunResult {
  period: string;
  kind: 'weekly' | 'monthly';
  periodStart: string;
  periodEnd: string;
  clients: number;
  created: number;
  existing: number;
  createdTotalMicros: number;
  sent: number;
  sendFailed: number;
  durationMs: number;
}

/** Credential metadata: the secret is write-only. */
export interface Credential {
  id: string;
  clientId: string | null;
  name: string;
  provider: string;
  type: string;
  permissions: string;
  /** names of the stored secret fields, never their values */
  fields: string[];
  isActive: boolean;
  isVerified: boolean;
  lastVerifiedAt: string | null;
  verification: { status: string; message: string } | null;
  lastUsedAt: string | null;
  usageCount: number;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
}

export interface CreateCredentialInput {
  provider: string;
  credentialName: string;
  credentials: Record<string, unknown>;
  credentialType?: string;
  permissions?: 'read_only' | 'read_write' | 'admin';
}

export interface UpdateCredentialInput {
  credentialName?: string;
  credentials?: Record<string, unknown>;
  credentialType?: string;
  permissions?: 'read_only' | 'read_write' | 'admin';
  isActive?: boolean;
}

export interface CredentialSummary {
  clientId: string;
  totalCredentials: number;
  providers: Record<string, { total: number; active: number; verified: number }>;
}

export interface AuditEntry {
  seq: number;
  id: string;
  createdAt: string;
  actorType: string;
  actorId: string;
  action: string;
  targetType: string;
  targetId: string | null;
  clientId: string | null;
  ip: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  clientId?: string;
  action?: string;
  targetId?: string;
  limit?: number;
  cursor?: string;
}
