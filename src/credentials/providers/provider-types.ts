import type { z } from 'zod';
import type { CredentialType, Provider, SecretFields } from '../credentials-types.ts';
import type { Attempt } from '../resilience-fns.ts';

/** What a verification call needs besides the secret. */
export interface ProbeContext {
  /** The provider's base URL: the configured one, else the real provider's. */
  baseUrl: string;
  timeoutMs: number;
  now: Date;
  fetch: typeof fetch;
}

/**
 * One verification attempt. ok = the provider accepted the secret; a permanent failure = it
 * refused it (rejected); a transient failure = no usable answer (timeout, 5xx, 429, network).
 */
export type ProbeResult = Attempt<{ message: string }>;

export interface ProviderSpec {
  name: Provider;
  /** The type a credential gets when the request does not name one. */
  defaultType: CredentialType;
  /** Validates and normalizes the secret's fields; errors name the field. */
  schema: z.ZodType<SecretFields, unknown>;
  /** The real provider's base URL; null when there is nothing to call. */
  defaultBaseUrl: string | null;
  /**
   * Development-mode fallback: secret field → environment variables to read, first set wins.
   * Required fields missing from the environment mean "no credential".
   */
  env: Record<string, string[]>;
  /** Calls the provider with the secret; null when the provider has no check (unsupported). */
  verify: ((fields: SecretFields, ctx: ProbeContext) => Promise<ProbeResult>) | null;
}
