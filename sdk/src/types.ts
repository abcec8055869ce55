/**
 * The shapes of Keyplane's HTTP API (SPEC §3, §11), named for SDK users. Each is derived from
 * the types generated from the server's OpenAPI document (`./generated/openapi.ts`, by
 * `npm run gen:api`; a test fails when that file and the server disagree), so the SDK cannot
 * drift from the server, and needs nothing from the server package. Field names are the API's
 * (camelCase); times are ISO-8601 strings; money is integer micro-units (`…Micros`) plus a
 * decimal string.
 */
import type { Answer, Body, QueryOf, Schemas } from './api-shapes.ts';

export type Environment = ApiKey['environment'];

/** `?limit=&cursor=` → `{data, nextCursor}` */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface PageQuery {
  limit?: number;
  cursor?: string;
}

export type RateLimit = Schemas['RateLimit'];

export type Client = Schemas['Client'];

/** Key metadata; never the key itself. */
export type ApiKey = Schemas['ApiKey'];

export type CreateClientInput = Body<'createClient'>;

export type UpdateClientInput = Body<'updateClient'>;

/** Key creation body (admin and self-service). */
export type CreateKeyInput = Body<'adminCreateKey'>;

/** A creation answer: the key is in `apiKey`, shown exactly once. */
export type CreatedKey = Schemas['CreatedKey'];

export type CreatedClient = Answer<'createClient', 201>;

export type RolledKey = Schemas['RolledKey'];

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

export type VerifyInput = Body<'verifyKey'>;

/**
 * `POST /admin/v1/verify` (always 200: an invalid key is an answer, not an error). The
 * document types `code` as a string; the SDK names its values (SPEC §2).
 */
export type VerifyResult = Omit<Answer<'verifyKey'>, 'code'> & { code: VerifyCode };

/** `from`: inclusive start, ISO date or timestamp (default 30 days ago); `to`: exclusive end (default now). */
export type UsageQuery = QueryOf<'getKeyUsage'>;

export type UsageAmounts = UsageSummary['totals'];

export type UsageSummary = Schemas['UsageSummary'];

export type KeyUsage = Answer<'getKeyUsage'>;

/** One call to a service's own endpoint, metered into Keyplane. */
export type UsageEventInput = Body<'ingestUsageEvents'>['events'][number];

export type InvoiceLineItem = Schemas['InvoiceLineItem'];

export type Invoice = Schemas['Invoice'];

export type InvoiceQuery = QueryOf<'listInvoices'>;

export type InvoiceRunResult = Answer<'runInvoices'>;

/** Credential metadata: the secret is write-only. */
export type Credential = Schemas['Credential'];

export type CreateCredentialInput = Body<'createCredential'>;

export type UpdateCredentialInput = Body<'updateCredential'>;

export type CredentialSummary = Answer<'getCredentialSummary'>;

export type AuditEntry = Schemas['AuditEntry'];

export type AuditQuery = QueryOf<'listAuditEntries'>;
