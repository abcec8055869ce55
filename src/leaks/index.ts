/**
 * The leaks module's public surface: leaked-key reports (secret scanning partners, operators,
 * `keyplane scan`) and the policy each client picks, GitHub's signing keys, and the scanner
 * the CLI runs over files. Other modules import from here, never from the module's files.
 */
export { createLeaksService } from './leaks-service.ts';
export { createLeaksStore } from './leaks-store.ts';
export { createGithubKeySource } from './github-keys.ts';
export { findKeys, type FoundKey } from './leaks-fns.ts';
export { LEAK_POLICIES } from './leaks-types.ts';
