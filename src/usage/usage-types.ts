import type { KeyEnvironment } from '../lib/key-format.ts';

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

/** Raw events, one row per (flush batch, client, hour): the format is `EncodedBlock` (usage-blocks.ts). */
export interface UsageBlocksTable {
  batch_id: string;
  seq: number;
  client_id: string;
  hour: string;
  calls: number;
  cost_micros: number;
  /** JSON: `EncodedBlock`. */
  events: string;
}

/** Every batch ever written (the flush's idempotency: a batch id is stored once). */
export interface UsageBatchesTable {
  batch_id: string;
  events: number;
  created_at: string;
}

/** Request ids of externally reported events: a repeated one is skipped. */
export interface UsageRequestIdsTable {
  request_id: string;
  created_at: string;
}

/**
 * Hourly rollups, updated in the same transaction as the flush that inserts the events, so
 * they always equal the raw rows. Queries read these instead of scanning millions of events.
 */
export interface UsageHourlyTable {
  /** `YYYY-MM-DDTHH:00:00.000Z` */
  hour: string;
  client_id: string;
  key_id: string;
  endpoint: string;
  status: number;
  environment: KeyEnvironment;
  unit_price_micros: number;
  calls: number;
  cost_micros: number;
  duration_us: number;
}

export interface UsageTables {
  usage_blocks: UsageBlocksTable;
  usage_batches: UsageBatchesTable;
  usage_request_ids: UsageRequestIdsTable;
  usage_hourly: UsageHourlyTable;
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
