import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../infra/logger.ts';
import type { MaybePromise } from '../lib/maybe-promise.ts';
import type { Clock } from '../lib/clock.ts';
import type { BudgetsStore, ReserveItem } from './budgets-store.ts';
import type { BudgetLease } from './budgets-types.ts';

/**
 * Budget leases: the hot path of a budgeted client without a write per call.
 *
 * A node reserves a slice of a budget's period (a lease) with the same conditional UPDATE as a
 * single call, and takes each call's price out of it in memory. A lease is granted only while
 * at least LEASE_SHARE times its size remains, so near the amount every call is decided alone
 * in the database. Unused lease goes back when it expires (LEASE_TTL_MS), on a budget change
 * and at a graceful stop. A call that does not fit is refused only in a transaction that sees
 * no lease outstanding on any node: while one is, the node waits for it to come back. Leases
 * of a node that died are dropped LEASE_GRACE_MS after they expired; what they held stays spent.
 */
export const LEASE_TTL_MS = 1_000;
export const LEASE_GRACE_MS = 2_000;
/** A lease of g is granted only while spend + LEASE_SHARE·g fits the amount. */
export const LEASE_SHARE = 16;
/** A lease holds this many calls' prices at first; doubles when used up before it expires. */
const MIN_CALLS = 8;
const MAX_CALLS = 4_096;

export interface LeaseState {
  clientId: string;
  budgetId: string;
  periodStart: string;
  /** the period's spend last read from the database (null: not read yet) */
  known: number | null;
  calls: number;
  lease: BudgetLease | null;
  /** unused lease on its way back (still counted in the database) */
  returning: number;
  acquiring: Promise<boolean> | null;
}

export interface LeaseCtx {
  store: BudgetsStore;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  states: Map<string, LeaseState>;
  track: <T>(p: Promise<T>) => Promise<T>;
}

/** A reservation: the spend after it (as far as this node knows), and the lease it came from. */
export type Reserved = { ok: true; spent: number; lease: BudgetLease | null } | { ok: false };

const iso = (ms: number) => new Date(ms).toISOString();

export function stateOf(ctx: LeaseCtx, clientId: string, item: ReserveItem): LeaseState {
  const key = `${item.budgetId}|${item.periodStart}`;
  let s = ctx.states.get(key);
  if (!s) {
    if (ctx.states.size > 10_000) pruneStates(ctx);
    s = {
      clientId,
      budgetId: item.budgetId,
      periodStart: item.periodStart,
      known: null,
      calls: MIN_CALLS,
      lease: null,
      returning: 0,
      acquiring: null,
    };
    ctx.states.set(key, s);
  }
  return s;
}

function pruneStates(ctx: LeaseCtx): void {
  for (const [key, s] of ctx.states) {
    if (!s.lease && !s.acquiring && !s.returning) ctx.states.delete(key);
  }
}

/** The price out of this node's open lease: no query. Answers the spend after, or null. */
function takeLocal(s: LeaseState, price: number, nowMs: number): number | null {
  const l = s.lease;
  if (!l || !l.open || nowMs >= l.expiresAtMs || l.left < price) return null;
  l.left -= price;
  return l.base + l.granted - l.left;
}

/** One budget's reservation for a call: from the lease when it has room, else the database. */
export function reserveOne(
  ctx: LeaseCtx,
  clientId: string,
  item: ReserveItem,
): MaybePromise<Reserved> {
  const s = stateOf(ctx, clientId, item);
  const spent = takeLocal(s, item.micros, ctx.clock.nowMs());
  if (spent !== null) return { ok: true, spent, lease: s.lease };
  return ctx.track(reserveSlow(ctx, s, item));
}

async function reserveSlow(ctx: LeaseCtx, s: LeaseState, item: ReserveItem): Promise<Reserved> {
  for (let i = 0; i < 4; i++) {
    const spent = takeLocal(s, item.micros, ctx.clock.nowMs());
    if (spent !== null) return { ok: true, spent, lease: s.lease };
    if (s.acquiring) {
      await s.acquiring;
      continue;
    }
    const size = leaseSize(s, item);
    if (size === null) break;
    s.acquiring = acquire(ctx, s, item, size).finally(() => {
      s.acquiring = null;
    });
    if (!(await s.acquiring)) break;
  }
  if (s.lease) await retire(ctx, s, s.lease);
  return exact(ctx, s, item);
}

/** How much to lease for this call, or null when the budget is too near its amount for one. */
function leaseSize(s: LeaseState, item: ReserveItem): number | null {
  const wanted = item.micros * s.calls;
  if (item.limit === null) return wanted;
  const size =
    s.known === null ? wanted : Math.min(wanted, Math.floor((item.limit - s.known) / LEASE_SHARE));
  return size >= 2 * item.micros ? size : null;
}

/** Gives the old lease back and takes a new one (false: the database had no room for it). */
async function acquire(
  ctx: LeaseCtx,
  s: LeaseState,
  item: ReserveItem,
  size: number,
): Promise<boolean> {
  const old = s.lease;
  if (old) {
    if (old.open && old.left < item.micros && ctx.clock.nowMs() < old.expiresAtMs) {
      s.calls = Math.min(MAX_CALLS, s.calls * 2);
    }
    await retire(ctx, s, old);
  }
  const nowMs = ctx.clock.nowMs();
  const id = randomUUID();
  const spent = await ctx.store.grantLease(s.clientId, {
    leaseId: id,
    nodeId: ctx.nodeId,
    budgetId: s.budgetId,
    periodStart: s.periodStart,
    micros: size,
    room: size * LEASE_SHARE,
    limit: item.limit,
    expiresAt: iso(nowMs + LEASE_TTL_MS),
  });
  if (spent === null) {
    // No room for a lease: decide alone until the database says otherwise.
    s.known = item.limit;
    return false;
  }
  s.known = spent;
  const lease: BudgetLease = {
    id,
    granted: size,
    left: size,
    base: spent - size,
    expiresAtMs: nowMs + LEASE_TTL_MS,
    open: true,
  };
  s.lease = lease;
  setTimeout(() => void expire(ctx, s, lease), LEASE_TTL_MS).unref();
  return true;
}

async function expire(ctx: LeaseCtx, s: LeaseState, lease: BudgetLease): Promise<void> {
  if (!lease.open) return;
  // Mostly unused: the next lease is smaller.
  if (lease.left * 2 > lease.granted) s.calls = Math.max(MIN_CALLS, Math.floor(s.calls / 2));
  await retire(ctx, s, lease);
}

/** Closes a lease (nothing more is taken from it) and gives its unused part back. */
export async function retire(ctx: LeaseCtx, s: LeaseState, lease: BudgetLease): Promise<void> {
  if (!lease.open) return;
  lease.open = false;
  if (s.lease === lease) s.lease = null;
  const unused = lease.left;
  s.returning += unused;
  try {
    await ctx.track(
      ctx.store.returnLease(s.clientId, {
        leaseId: lease.id,
        budgetId: s.budgetId,
        periodStart: s.periodStart,
        unused,
      }),
    );
  } catch (err) {
    // It stays reserved (never too little counted); other nodes drop it once it is stale.
    ctx.logger.warn({ err, budgetId: s.budgetId }, 'could not give back a budget lease');
  } finally {
    s.returning -= unused;
  }
}

/**
 * The call's price decided alone in the database. Refused only when it does not fit and no
 * lease is outstanding; while one is, wait for it (bounded: lifetime + grace).
 */
async function exact(ctx: LeaseCtx, s: LeaseState, item: ReserveItem): Promise<Reserved> {
  const deadline = performance.now() + LEASE_TTL_MS + LEASE_GRACE_MS + 1_000;
  for (;;) {
    const staleBefore = iso(ctx.clock.nowMs() - LEASE_GRACE_MS);
    const d = await ctx.store.decide(s.clientId, item, staleBefore);
    if (typeof d === 'object') {
      s.known = d.spent;
      return { ok: true, spent: d.spent, lease: null };
    }
    if (d === 'refused' || performance.now() > deadline) return { ok: false };
    await delay(20);
  }
}

/**
 * Several budgets on one call (a client's and its key's): all or none, one transaction, in the
 * database. A refusal waits, as above, for the refusing budget's leases to come back.
 */
export async function reserveAll(
  ctx: LeaseCtx,
  clientId: string,
  items: ReserveItem[],
): Promise<{ ok: true; spent: number[] } | { ok: false; refused: number }> {
  const deadline = performance.now() + LEASE_TTL_MS + LEASE_GRACE_MS + 1_000;
  for (;;) {
    const r = await ctx.store.reserve(clientId, items);
    if (r.ok) return r;
    const item = items[r.refused]!;
    const s = stateOf(ctx, clientId, item);
    if (s.lease) await retire(ctx, s, s.lease);
    const staleBefore = iso(ctx.clock.nowMs() - LEASE_GRACE_MS);
    const live = await ctx.store.liveLeases(clientId, item, staleBefore);
    if (!live || performance.now() > deadline) return r;
    await delay(20);
  }
}

/** A reservation given back: into its lease while that is open, else in the database. */
export function refund(
  ctx: LeaseCtx,
  clientId: string,
  item: { budgetId: string; periodStart: string; lease?: BudgetLease | null },
  micros: number,
): void {
  if (item.lease?.open) {
    item.lease.left += micros;
    return;
  }
  void ctx
    .track(ctx.store.release(clientId, item.budgetId, item.periodStart, micros))
    .catch((err: unknown) =>
      ctx.logger.error(
        { err, budgetId: item.budgetId },
        'could not give back a budget reservation',
      ),
    );
}

/** Gives back every lease of a client (its budgets changed), or of everyone (stop). */
export async function retireAll(ctx: LeaseCtx, clientId: string | null): Promise<void> {
  const open = [...ctx.states.values()].filter(
    (s) => s.lease && (clientId === null || s.clientId === clientId),
  );
  await Promise.all(open.map((s) => retire(ctx, s, s.lease!)));
}

/** What this node holds reserved but has not spent on a budget's period (reads subtract it). */
export function unspent(ctx: LeaseCtx, budgetId: string, periodStart: string): number {
  const s = ctx.states.get(`${budgetId}|${periodStart}`);
  if (!s) return 0;
  return (s.lease?.open ? s.lease.left : 0) + s.returning;
}

export function newNodeId(): string {
  return randomUUID();
}
