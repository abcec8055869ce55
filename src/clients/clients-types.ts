import type { ClientStatus } from '../store/tables/clients.ts';
export type { ClientStatus, ClientsTable, ClientsTables } from '../store/tables/clients.ts';

export type { RateLimitSetting } from '../lib/rate-limit-setting.ts';
import type { RateLimitSetting } from '../lib/rate-limit-setting.ts';

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
