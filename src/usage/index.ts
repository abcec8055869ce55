/**
 * The usage module's public surface: metering (record a call, flush, stop), the queries over
 * it (summaries, per-key statistics, billing lines), its storage (`usage_*` tables) and the
 * price book. Other modules import from here, never from the files behind it.
 */
export { createUsageService, type CallRecord, type UsageService } from './usage-service.ts';
export type { EventsQuery, UsageEventRow } from './usage-queries.ts';
export { createUsageStore, type UsageStore } from './usage-store.ts';
export { createSqliteUsageWriter, type UsageWriter } from './usage-writer.ts';
export { compilePriceBook, type PriceBook } from './usage-price-book.ts';
export { parseBound, resolveRange } from './usage-range.ts';
export { decodeBlock, encodeBlocks } from './usage-blocks.ts';
export type {
  BillingLine,
  KeyUsage,
  UsageEvent,
  UsageGroupBy,
  UsageSummary,
  UsageTables,
} from './usage-types.ts';
