import type { KeyEnvironment } from '../../lib/key-format.ts';

/**
 * The usage tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
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
