import type { Kysely } from 'kysely';
import type SQLite from 'better-sqlite3';
import type { Database } from '../store/database.ts';
import { createUsageReads } from './usage-store-read.ts';
import { createUsageWrites } from './usage-store-write.ts';

/** What an aggregate can be grouped by. */
export type UsageDim =
  'client' | 'key' | 'endpoint' | 'status' | 'environment' | 'unitPrice' | 'day';

export interface UsageFilter {
  /** Inclusive ISO bound. */
  from: string;
  /** Exclusive ISO bound. */
  to: string;
  /** Required for client-facing queries; omitted only by admin/billing reads across clients. */
  clientIds?: string[];
  keyId?: string;
  environment?: 'live' | 'test';
}

export type UsageAggRow = Partial<Record<UsageDim, string | number>> & {
  calls: number;
  costMicros: number;
};

/**
 * The usage tables (`usage_batches`, `usage_request_ids`, `usage_blocks`, `usage_hourly`):
 * batches written exactly once, and read back as rollups or raw events.
 */
export function createUsageStore(
  db: Kysely<Database>,
  /** The raw SQLite handle, when this store runs on the writer thread (see createUsageWrites). */
  sqlite?: SQLite.Database | null,
) {
  return { ...createUsageWrites(db, sqlite), ...createUsageReads(db) };
}

export type UsageStore = ReturnType<typeof createUsageStore>;
