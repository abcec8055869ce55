import type { KeyEnvironment } from '../lib/key-format.ts';
import { createUsageQueries } from './usage-queries.ts';
import { createUsageQueue, type UsageQueueDeps } from './usage-queue.ts';

export type { CallRecord } from './usage-queue.ts';

export interface UsageServiceDeps extends UsageQueueDeps {
  /** The currency of every amount in the answers. */
  currency: string;
}

/**
 * Metering: the write side (`record`, `flush`, `close`: calls queued in memory and written in
 * batches, exactly once) and the read side (summaries, per-key statistics, billing lines).
 */
export function createUsageService(deps: UsageServiceDeps) {
  return {
    /** The unit price of one call of `endpoint` (test keys are never priced). */
    priceOf(endpoint: string, environment: KeyEnvironment = 'live'): number {
      return environment === 'test' ? 0 : deps.priceBook.priceOf(endpoint);
    },
    ...createUsageQueue(deps),
    ...createUsageQueries(deps),
  };
}

export type UsageService = ReturnType<typeof createUsageService>;
