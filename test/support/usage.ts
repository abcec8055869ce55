import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/database.ts';
import { createUsageStore } from '../../src/usage/usage-store.ts';

/**
 * Every stored usage event of a client (or of all), summed straight from the store: what the
 * tests compare the metered answers against. Call `usage.flush()` first for events still queued.
 */
export function storedUsage(
  db: Kysely<Database>,
  clientId?: string,
): Promise<{ calls: number; costMicros: number }> {
  return createUsageStore(db).countEvents(clientId);
}
