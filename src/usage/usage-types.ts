import type { KeyEnvironment } from '../lib/key-format.ts';
export type {
  UsageBlocksTable,
  UsageBatchesTable,
  UsageRequestIdsTable,
  UsageHourlyTable,
  UsageTables,
} from '../store/tables/usage.ts';

/** One metered call, as it sits in the in-memory queue before a flush. */
export interface UsageEvent {
  /** The request id; never counted twice (see `external`). */
  requestId: string;
  clientId: string;
  keyId: string;
  /** `METHOD /route-template`, e.g. `POST /v1/proxy/gemini/*`. */
  endpoint: string;
  method: string;
  status: number;
  environment: KeyEnvironment;
  /** Price of one call of this endpoint when it happened; 0 for test keys. */
  unitPriceMicros: number;
  costMicros: number;
  durationUs: number;
  /** ISO-8601 UTC. */
  createdAt: string;
  /**
   * Reported from outside (`POST /admin/v1/usage/events`, whose sender may retry): its request
   * id is kept in `usage_request_ids`, and an id seen before is skipped. Keyplane's own calls
   * have ids unique by construction and are stored once by the batch's idempotency.
   */
  external?: boolean;
}

/** A batch as the flush hands it to storage: its id makes a retried write a no-op. */
export interface UsageBatch {
  id: string;
  events: readonly UsageEvent[];
}

export type UsageGroupBy = 'day' | 'endpoint' | 'key' | 'client';

/** `GET /v1/usage` (SPEC §11). */
export interface UsageSummary {
  from: string;
  to: string;
  currency: string;
  totals: { calls: number; testCalls: number; costMicros: number; cost: string };
  groups: Array<{
    group: string;
    calls: number;
    testCalls: number;
    costMicros: number;
    cost: string;
  }>;
}

/** Per-key statistics (seed 05): request counts, endpoints and status codes. */
export interface KeyUsage {
  keyId: string;
  from: string;
  to: string;
  currency: string;
  calls: number;
  costMicros: number;
  cost: string;
  lastUsedAt: string | null;
  endpoints: Array<{ endpoint: string; calls: number; costMicros: number; cost: string }>;
  statusCodes: Record<string, number>;
}

/** One invoice line source (consumed by billing): live usage of one endpoint at one price. */
export interface BillingLine {
  clientId: string;
  endpoint: string;
  unitPriceMicros: number;
  calls: number;
  amountMicros: number;
}
