export type { CredentialsTable, CredentialsTables } from '../store/tables/credentials.ts';

/**
 * The credentials vault (SPEC §5): clients' own provider credentials (bring-your-own-key) and
 * the operator's platform credentials, envelope-encrypted at rest.
 */

/** The reserved owner of the operator's own credentials. Client ids always start `client_`. */
export const PLATFORM_OWNER = 'platform';

export const PROVIDERS = [
  'vultr',
  'aws',
  'gcp',
  'azure',
  'gemini',
  'openai',
  'anthropic',
  'exa',
  'copilotkit',
  'generic',
] as const;

export type Provider = (typeof PROVIDERS)[number];

export const CREDENTIAL_TYPES = [
  'api_key',
  'access_key',
  'service_account',
  'oauth_client',
] as const;

export type CredentialType = (typeof CREDENTIAL_TYPES)[number];

export const PERMISSIONS = ['read_only', 'read_write', 'admin'] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const POLICIES = ['byok', 'platform', 'byok_then_platform'] as const;

export type Policy = (typeof POLICIES)[number];

export type VerificationStatus = 'verified' | 'rejected' | 'unreachable' | 'unsupported';

/** Credential metadata as the API shows it: never the secret. */
export interface Credential {
  id: string;
  /** null for a platform credential. */
  clientId: string | null;
  name: string;
  provider: Provider;
  type: CredentialType;
  permissions: Permission;
  /** Names of the stored fields, e.g. ["accessKeyId", "secretAccessKey"]. */
  fields: string[];
  isActive: boolean;
  isVerified: boolean;
  lastVerifiedAt: string | null;
  verification: { status: VerificationStatus; message: string } | null;
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
  permissions?: string;
}

/** A credential from another vault (issue 20): its secret, and the state it had there. */
export interface ImportCredentialInput extends CreateCredentialInput {
  isActive: boolean;
  isVerified: boolean;
  lastVerifiedAt: string | null;
  lastUsedAt: string | null;
  usageCount: number;
  createdAt: string | null;
  updatedAt: string | null;
  /** Where it came from, for the audit entry: ids and names, never the secret. */
  origin: Record<string, string>;
}

export interface UpdateCredentialInput {
  credentialName?: string;
  credentials?: Record<string, unknown>;
  credentialType?: string;
  permissions?: string;
  isActive?: boolean;
}

export type SecretFields = Record<string, string>;

export type ResolveSource = 'byok' | 'platform' | 'environment';

/** What a worker gets back from resolve: the decrypted secret and where it came from. */
export interface ResolvedCredential {
  provider: Provider;
  policy: Policy;
  source: ResolveSource;
  /** null when the secret came from the environment (development mode). */
  credentialId: string | null;
  credentials: SecretFields;
}

export interface CredentialSummary {
  clientId: string;
  totalCredentials: number;
  providers: Record<string, { total: number; active: number; verified: number }>;
}

export interface RewrapReport {
  activeKeyId: string;
  total: number;
  rewrapped: number;
  failed: Array<{ id: string; reason: string }>;
}
