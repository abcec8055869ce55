/**
 * The credentials vault's public surface: what other modules may import. Inside the module,
 * files import each other directly.
 *
 * - the service (`createCredentialsService`): store, change, delete, verify, read metadata,
 *   resolve a secret for a worker or the proxy (the hot path), rewrap and check master keys;
 * - its store (`createCredentialsStore`), composed by `src/services.ts`;
 * - the types of its inputs and answers, the provider list and its specs.
 */
export {
  createCredentialsService,
  type CredentialsService,
  type CredentialsServiceDeps,
  type ProviderSettings,
  type ResolveInput,
} from './credentials-service.ts';
export { createCredentialsStore, type CredentialsStore } from './credentials-store.ts';
export type { Verification } from './credentials-verifier.ts';
export {
  CREDENTIAL_TYPES,
  PERMISSIONS,
  PLATFORM_OWNER,
  POLICIES,
  PROVIDERS,
  type CreateCredentialInput,
  type Credential,
  type CredentialSummary,
  type CredentialsTable,
  type CredentialsTables,
  type ImportCredentialInput,
  type Policy,
  type Provider,
  type ResolvedCredential,
  type SecretFields,
  type UpdateCredentialInput,
} from './credentials-types.ts';
export { PROVIDER_SPECS, isProvider, providerSpec } from './providers/index.ts';
