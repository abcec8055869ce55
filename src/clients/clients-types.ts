export type ClientStatus = 'active' | 'suspended' | 'deleted';

export type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';

export interface ClientsTable {
  id: string;
  name: string;
  /** null once the client is deleted (PII scrubbed). */
  email: string | null;
  tier: string;
  status: ClientStatus;
  /** JSON object. */
  metadata: string;
  /** JSON {limit, windowSeconds} or null: the default for this client's keys. */
  default_rate_limit: string | null;
  created_at: string;
  updated_at: string;
  suspended_at: string | null;
  deleted_at: string | null;
}

export interface ClientsTables {
  clients: ClientsTable;
}

export interface Client {
  id: string;
  name: string;
  email: string | null;
  tier: string;
  status: ClientStatus;
  metadata: Record<string, unknown>;
  defaultRateLimit: RateLimitSetting | null;
  createdAt: string;
  updatedAt: string;
  suspendedAt: string | null;
  deletedAt: string | null;
}
