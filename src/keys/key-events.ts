import type { Transaction } from 'kysely';
import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { Database } from '../store/database.ts';
import type { EmitAlone, EmitEvent } from '../webhooks/index.ts';
import { Lru } from './keys-fns.ts';
import { lowLevel, type LowLevel } from './key-notices-store.ts';
import type { InTx, KeysStore, TakenCredits } from './keys-store.ts';
import type { KeysTable } from './keys-types.ts';

/** A key as webhook payloads show it (webhooks-events.ts keySummary): never the key or hash. */
export function keySummary(row: KeysTable) {
  return {
    id: row.id,
    clientId: row.client_id,
    start: row.start,
    name: row.name,
    environment: row.environment,
    scopes: JSON.parse(row.scopes) as string[],
    expiresAt: row.expires_at,
    status: row.status,
  };
}

export interface KeyEventsDeps {
  keysStore: KeysStore;
  clock: Clock;
  logger: Logger;
  emit?: EmitEvent;
  emitAlone?: EmitAlone;
}

/** Where a key with credits took one: its pool and refill rule. */
interface PoolRef {
  keyId: string;
  clientId: string;
  environment: KeyEnvironment;
  poolId: string;
  interval: 'daily' | 'monthly' | null;
  amount: number | null;
}

const DAY_MS = 24 * 3600_000;

interface KeyEventsContext extends KeyEventsDeps {
  /** This node's last ratelimit.exceeded attempt per key: spares the database a flood. */
  limitedSeen: Lru<string, string>;
}

/**
 * The key events that are not a key change of their own: credits.low (a threshold crossed on
 * the verify path), ratelimit.exceeded (a refusal) and key.expiring (a periodic scan). Each is
 * sent exactly once by a marker or a dedupe key in the database, never by this node's memory.
 */
export function createKeyEvents(deps: KeyEventsDeps) {
  const ctx: KeyEventsContext = { ...deps, limitedSeen: new Lru<string, string>(10_000) };
  const { emit } = deps;
  return {
    /** In the caller's transaction: the event for a key change (created, revoked, rolled). */
    inTx: (event: Parameters<EmitEvent>[1]): InTx | undefined =>
      emit && ((trx: Transaction<Database>) => emit(trx, event)),
    /**
     * After a credit was taken: nothing unless this call crossed a threshold not reported yet
     * for the grant (the returned row says so, no extra read). Never throws into verification.
     */
    creditsTaken: (pool: PoolRef, taken: TakenCredits) => creditsTaken(ctx, pool, taken),
    /** After a refusal by a rate limit: once per key per (epoch-aligned) window, across nodes. */
    rateLimited: (key: LimitedKey, rl: LimitedWindow, endpoint: string | undefined) =>
      rateLimited(ctx, key, rl, endpoint),
    /**
     * The periodic scan any node may run: key.expiring 1 day and 7 days before expiry, and any
     * credits.low a stopped node left unwritten. Returns how many events it wrote.
     */
    async sweep(limit = 500): Promise<number> {
      if (!emit) return 0;
      return (await sweepExpiring(ctx, emit, limit)) + (await sweepLow(ctx, limit));
    },
  };
}

type LimitedKey = { keyId: string; clientId: string; environment: KeyEnvironment };
type LimitedWindow = { limit: number; reset: number; windowMs?: number };

async function reportLow(
  { keysStore, emit }: KeyEventsContext,
  pool: PoolRef,
  taken: TakenCredits,
  level: LowLevel,
): Promise<boolean> {
  if (!emit) return false;
  return keysStore.markCreditsLow(pool.poolId, taken.grantSeq, level, (trx) =>
    emit(trx, {
      type: 'credits.low',
      clientId: pool.clientId,
      data: {
        key: { id: pool.keyId, clientId: pool.clientId, environment: pool.environment },
        poolId: pool.poolId,
        threshold: level === 2 ? 0 : 20,
        remaining: taken.remaining,
        granted: taken.granted,
        refill:
          pool.interval && pool.amount !== null
            ? { interval: pool.interval, amount: pool.amount }
            : null,
      },
    }),
  );
}

function creditsTaken(
  ctx: KeyEventsContext,
  pool: PoolRef,
  taken: TakenCredits,
): Promise<void> | null {
  const level = lowLevel(taken.remaining, taken.granted);
  if (level <= taken.lowAlerted || !ctx.emit) return null;
  return reportLow(ctx, pool, taken, level).then(
    () => undefined,
    (err: unknown) => ctx.logger.warn({ err, poolId: pool.poolId }, 'could not write credits.low'),
  );
}

function rateLimited(
  ctx: KeyEventsContext,
  key: LimitedKey,
  rl: LimitedWindow,
  endpoint: string | undefined,
): Promise<void> | null {
  const { emitAlone, limitedSeen } = ctx;
  if (!emitAlone) return null;
  const windowMs = rl.windowMs ?? 60_000;
  const window = `${windowMs}:${Math.floor(ctx.clock.nowMs() / windowMs)}`;
  if (limitedSeen.get(key.keyId) === window) return null;
  limitedSeen.set(key.keyId, window);
  return emitAlone({
    type: 'ratelimit.exceeded',
    clientId: key.clientId,
    dedupeKey: `ratelimit.exceeded:${key.keyId}:${window}`,
    data: {
      key: { id: key.keyId, clientId: key.clientId, environment: key.environment },
      limit: rl.limit,
      windowSeconds: Math.round(windowMs / 1000),
      resetAt: new Date(rl.reset).toISOString(),
      endpoint: endpoint ?? null,
    },
  }).then(
    () => undefined,
    (err: unknown) =>
      ctx.logger.warn({ err, keyId: key.keyId }, 'could not write ratelimit.exceeded'),
  );
}

/** key.expiring 1 day and 7 days before expiry, each once. */
async function sweepExpiring(
  { keysStore, clock }: KeyEventsContext,
  emit: EmitEvent,
  limit: number,
): Promise<number> {
  const now = clock.now();
  let sent = 0;
  // The 1-day notices first: a key inside a day gets that one, not a late 7-day one.
  for (const days of [1, 7] as const) {
    const until = new Date(now.getTime() + days * DAY_MS).toISOString();
    for (const row of await keysStore.keysToWarn(now.toISOString(), until, days, limit)) {
      const ok = await keysStore.markExpiryNotice(
        row.client_id,
        row.id,
        row.expires_at!,
        days,
        (trx) =>
          emit(trx, {
            type: 'key.expiring',
            clientId: row.client_id,
            data: { key: keySummary(row), expiresAt: row.expires_at, daysBefore: days },
          }),
      );
      if (ok) sent++;
    }
  }
  return sent;
}

/** credits.low a stopped node left unwritten. */
async function sweepLow(ctx: KeyEventsContext, limit: number): Promise<number> {
  let sent = 0;
  for (const p of await ctx.keysStore.unreportedLowPools(limit)) {
    const taken = {
      remaining: Number(p.remaining),
      granted: Number(p.granted),
      grantSeq: Number(p.grant_seq),
      lowAlerted: Number(p.low_alerted),
    };
    const pool: PoolRef = {
      keyId: p.key.id,
      clientId: p.client_id,
      environment: p.key.environment,
      poolId: p.id,
      interval: p.refill_interval,
      amount: p.refill_amount === null ? null : Number(p.refill_amount),
    };
    if (await reportLow(ctx, pool, taken, lowLevel(taken.remaining, taken.granted))) sent++;
  }
  return sent;
}

export type KeyEvents = ReturnType<typeof createKeyEvents>;
