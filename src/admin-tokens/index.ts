/**
 * The admin-tokens module's public surface: scoped tokens for the admin API (create, list,
 * revoke, authenticate) and the scope check the HTTP faces use. Other modules import from
 * here, never from the module's files.
 */
export { createAdminTokensService, hasAdminScope } from './admin-tokens-service.ts';
export { createAdminTokensStore } from './admin-tokens-store.ts';
export { ADMIN_SCOPES, type AdminToken } from './admin-tokens-types.ts';
