/**
 * The keys module's public surface: API keys (issue, verify, roll, revoke, delete), their
 * store, and the types other modules see. Other modules import from here, never from the
 * module's files.
 */
export { createKeysService, type KeysService, type KeysServiceDeps } from './keys-service.ts';
export { createKeysStore, type KeysStore } from './keys-store.ts';
export { keyExists } from './keys-context.ts';
export {
  createKeyInput,
  keyText,
  revokeKeyInput,
  rollKeyInput,
  verifyKeyInput,
  type CreateKeyInput,
} from './keys-input.ts';
export { toApiKey } from './key-rows.ts';
export type { FailureReport } from './keys-failures.ts';
export type { RollResult } from './keys-roll.ts';
export type { LegacyKeyInput } from './legacy-keys-fns.ts';
export type {
  ApiKey,
  AuthContext,
  BudgetStep,
  ClientSnapshot,
  KeyStatus,
  KeysTables,
  MaybePromise,
  RateLimitGate,
  RateLimitState,
  VerifyCode,
  VerifyResult,
} from './keys-types.ts';
