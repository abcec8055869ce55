import type { KeyEnvironment } from '../lib/key-format.ts';

/** One metered call, as it sits in the in-memory queue before a flush. */
export interface UsageEvent {
  /** The request id: UNIQUE in storage, so a call is never counted twice. */
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
}

/** Raw events: the exact record of every call (request id is the primary key). */
export interface UsageEventsTable {
  request_id: string;
  client_id: string;
  key_id: string;
  endpoint: string;
  method: string;
  status: number;
  environment: KeyEnvironment;
  unit_price_micros: number;
  cost_micros: number;
  duration_us: number;
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
  usage_events: UsageEventsTable;
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
