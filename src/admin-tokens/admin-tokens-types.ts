export type { AdminTokensTable, AdminTokensTables } from '../store/tables/admin-tokens.ts';

/** `admin` grants everything; the others narrow it. */
export const ADMIN_SCOPES = [
  'admin',
  'clients:read',
  'clients:write',
  'keys:read',
  'keys:write',
  'verify',
  'usage:read',
  'usage:write',
  'invoices:read',
  'invoices:write',
  'credentials:read',
  'credentials:write',
  'credentials:resolve',
  'audit:read',
  'metrics:read',
  'webhooks:read',
  'webhooks:write',
  'tokens:write',
] as const;

export type AdminScope = (typeof ADMIN_SCOPES)[number];

export interface AdminToken {
  id: string;
  name: string;
  start: string;
  scopes: string[];
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'revoked';
}
