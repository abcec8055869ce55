import type { Registry } from 'prom-client';
import type { AuditService } from '../audit/index.ts';
import type { ChangeFeed } from '../infra/change-feed.ts';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import type { EmitAlone, EmitEvent } from '../webhooks/index.ts';
import { createKeyEvents } from './key-events.ts';
import type { KeysContext } from './keys-context.ts';
import { createKeyFailures } from './keys-failures.ts';
import { createLegacyKeys } from './keys-legacy.ts';
import { createKeyAdmin } from './keys-manage.ts';
import { createKeySelfService } from './keys-self-service.ts';
import type { KeysStore } from './keys-store.ts';
import type { BudgetStep, ClientSnapshot, RateLimitGate } from './keys-types.ts';
import { createKeyVerifier } from './keys-verify.ts';

export type { CreateKeyInput } from './key-rows.ts';
export type { ClientSnapshot } from './keys-types.ts';
export { toApiKey } from './key-rows.ts';

export interface KeysServiceDeps {
  keysStore: KeysStore;
  audit: AuditService;
  clock: Clock;
  logger: Logger;
  keyPrefix: string;
  getClient: (clientId: string) => Promise<ClientSnapshot | null>;
  changes: ChangeFeed | null;
  rateLimitGate?: RateLimitGate | null;
  budgetGate?: BudgetStep | null;
  registry?: Registry;
  /** The webhooks outbox: key.* events commit with the key's change; the rest on their own. */
  emit?: EmitEvent;
  emitAlone?: EmitAlone;
  /** Tunables (tests shrink them). */
  cacheSize?: number;
  negativeTtlMs?: number;
  positiveTtlMs?: number;
  touchFlushMs?: number;
}

/**
 * API keys: issue, list, revoke, roll, delete — and `verify`, the hot path used by the client
 * auth plugin, POST /admin/v1/verify and the SDK. Verification never throws for a bad key; it
 * answers one of the SPEC §2 outcome codes.
 */
export function createKeysService(deps: KeysServiceDeps) {
  const { keysStore, audit, clock, keyPrefix, getClient } = deps;
  const events = createKeyEvents(deps);
  const failures = createKeyFailures(deps);
  const verifier = createKeyVerifier(deps, events);
  const publish = verifier.publish;
  const ctx: KeysContext = { keysStore, audit, clock, keyPrefix, getClient, events, publish };
  return {
    verify: verifier.verify,
    verifyHash: verifier.verifyHash,
    ...createKeyAdmin(ctx),
    ...createLegacyKeys(ctx),
    ...createKeySelfService(ctx),
    reportFailure: failures.reportFailure,

    /**
     * key.expiring notices due and credits.low left unwritten: `serve` runs this every minute
     * on every node; the markers in storage make each event go out once.
     */
    sweepNotices: (limit?: number) => events.sweep(limit),

    cacheStats: verifier.cacheStats,

    async close(): Promise<void> {
      await verifier.close();
      await failures.close();
    },
  };
}

export type KeysService = ReturnType<typeof createKeysService>;
