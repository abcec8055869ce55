import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../infra/logger.ts';
import type { MaybePromise } from '../lib/maybe-promise.ts';
import type { Clock } from '../lib/clock.ts';
import type { Horizon } from './budgets-lease-store.ts';
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
 * of a node that died are dropped LEASE_GRACE_MS after they expired.
 *
 * Every reservation (a lease, or a call decided alone) is also in its node's hold
 * (budgets-hold-store.ts) until the usage batch metering its call moves it out, in the same
 * transaction. A node keeps its holds alive (HOLD_HEARTBEAT_MS); the hold of a node silent for
 * HOLD_RECLAIM_MS (it died) goes back to the budget, so the spend stays the metered usage, and
 * a refusal waits while what another node holds would let the call fit if it came back.
 */
export const LEASE_TTL_MS = 1_000;
export const LEASE_GRACE_MS = 2_000;
export const HOLD_HEARTBEAT_MS = 1_000;
export const HOLD_RECLAIM_MS = 5_000;
/**
 * A reservation decided alone is served only if it committed within HOLD_RECLAIM_MS minus this
 * of its hold's stamp: later (this node stalled: paused, starved, waiting on the database),
 * another node may already have given it back, so it is given back here too and decided again.
 */
export const HOLD_FENCE_MARGIN_MS = 2_000;
/** How long a call waits for reservations that may come back before it is refused. */
const WAIT_MS = HOLD_RECLAIM_MS + LEASE_TTL_MS + 1_000;
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
  /** when this node last reserved on it (its hold is kept alive a minute after) */
  usedAtMs: number;
  /** a durable reservation waits for its report until then: the hold is kept alive too */
  keepUntilMs: number;
}

export interface LeaseCtx {
  store: BudgetsStore;
  clock: Clock;
  logger: Logger;
  nodeId: string;
  states: Map<string, LeaseState>;
  track: <T>(p: Promise<T>) => Promise<T>;
}

/**
 * A reservation: the spend after it (as far as this node knows), the lease it came from and
 * the epoch of the hold it is in.
 */
export type Reserved =
  { ok: true; spent: number; lease: BudgetLease | null; epoch: number } | { ok: false };

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
      usedAtMs: 0,
      keepUntilMs: 0,
    };
    ctx.states.set(key, s);
  }
  s.usedAtMs = ctx.clock.nowMs();
  return s;
}

function pruneStates(ctx: LeaseCtx): void {
  const now = ctx.clock.nowMs();
  for (const [key, s] of ctx.states) {
    if (!s.lease && !s.acquiring && !s.returning && s.keepUntilMs < now) ctx.states.delete(key);
  }
}

/**
 * Keeps this node's hold on a budget's period alive until `untilMs` (a durable reservation in
 * it waits for its usage report until then), however long no call reserves on it.
 */
export function keepHold(
  ctx: LeaseCtx,
  clientId: string,
  item: { budgetId: string; periodStart: string },
  untilMs: number,
): void {
  const s = stateOf(ctx, clientId, { ...item, micros: 0, limit: null });
  s.keepUntilMs = Math.max(s.keepUntilMs, untilMs);
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
  if (spent !== null) return { ok: true, spent, lease: s.lease, epoch: s.lease!.epoch };
  return ctx.track(reserveSlow(ctx, s, item));
}

async function reserveSlow(ctx: LeaseCtx, s: LeaseState, item: ReserveItem): Promise<Reserved> {
  for (let i = 0; i < 4; i++) {
    const spent = takeLocal(s, item.micros, ctx.clock.nowMs());
    if (spent !== null) return { ok: true, spent, lease: s.lease, epoch: s.lease!.epoch };
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
  const granted = await ctx.store.grantLease(s.clientId, {
    leaseId: id,
    nodeId: ctx.nodeId,
    budgetId: s.budgetId,
    periodStart: s.periodStart,
    micros: size,
    room: size * LEASE_SHARE,
    limit: item.limit,
    expiresAt: iso(nowMs + LEASE_TTL_MS),
    stamp: () => iso(ctx.clock.nowMs()),
  });
  if (granted === null) {
    // No room for a lease: decide alone until the database says otherwise.
    s.known = item.limit;
    return false;
  }
  const { spent, epoch } = granted;
  s.known = spent;
  const lease: BudgetLease = {
    id,
    epoch,
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
        nodeId: ctx.nodeId,
        epoch: lease.epoch,
        unused,
      }),
    );
  } catch (err) {
    // It stays reserved (never too little counted) until this node's hold is given back.
    ctx.logger.warn({ err, budgetId: s.budgetId }, 'could not give back a budget lease');
  } finally {
    s.returning -= unused;
  }
}

/** The times a node decides with: what is stale, silent and given back (see Horizon). */
export function horizon(ctx: LeaseCtx): Horizon & { stampedMs: number } {
  const now = ctx.clock.nowMs();
  const h = {
    nodeId: ctx.nodeId,
    now: iso(now),
    stampedMs: now,
    stamp: () => {
      h.stampedMs = ctx.clock.nowMs();
      return iso(h.stampedMs);
    },
    staleBefore: iso(now - LEASE_GRACE_MS),
    reclaimBefore: iso(now - HOLD_RECLAIM_MS),
    given: [],
  };
  return h;
}

/** Operators want to know: a node fell silent and its hold went back to the budget. */
function logGiven(
  ctx: LeaseCtx,
  h: Horizon,
  clientId: string,
  item: { budgetId: string; periodStart: string },
): void {
  for (const g of h.given) {
    ctx.logger.warn(
      { silentNodeId: g.nodeId, clientId, budgetId: item.budgetId, micros: g.micros },
      'gave back the budget hold of a silent node',
    );
  }
}

/** Whether a reservation stamped at `stampedMs` committed too late to be served (see margin). */
function fenced(ctx: LeaseCtx, stampedMs: number): boolean {
  return ctx.clock.nowMs() - stampedMs > HOLD_RECLAIM_MS - HOLD_FENCE_MARGIN_MS;
}

/**
 * The call's price decided alone in the database. Refused only when it does not fit and
 * nothing may come back (a lease, a silent node's hold); while something may, wait (bounded).
 */
async function exact(ctx: LeaseCtx, s: LeaseState, item: ReserveItem): Promise<Reserved> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const h = horizon(ctx);
    const d = await ctx.store.decide(s.clientId, item, h);
    logGiven(ctx, h, s.clientId, item);
    if (typeof d === 'object' && fenced(ctx, h.stampedMs)) {
      await giveBackLate(ctx, s.clientId, [item], [d.epoch]);
      if (performance.now() > deadline) return { ok: false };
      continue;
    }
    if (typeof d === 'object') {
      s.known = d.spent;
      return { ok: true, spent: d.spent, lease: null, epoch: d.epoch };
    }
    if (d === 'refused' || performance.now() > deadline) return { ok: false };
    await delay(20);
  }
}

/**
 * Several budgets on one call (a client's and its key's): all or none, one transaction, in the
 * database. A refusal waits, as above, for what may come back on the refusing budget.
 */
export async function reserveAll(
  ctx: LeaseCtx,
  clientId: string,
  items: ReserveItem[],
): Promise<{ ok: true; spent: number[]; epochs: number[] } | { ok: false; refused: number }> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const holder = horizon(ctx);
    const r = await ctx.store.reserve(clientId, items, holder);
    if (r.ok && fenced(ctx, holder.stampedMs)) {
      await giveBackLate(ctx, clientId, items, r.epochs);
      if (performance.now() > deadline) return { ok: false, refused: 0 };
      continue;
    }
    if (r.ok) return r;
    const item = items[r.refused]!;
    const s = stateOf(ctx, clientId, item);
    if (s.lease) await retire(ctx, s, s.lease);
    const h = horizon(ctx);
    const live = await ctx.store.liveLeases(clientId, item, h);
    logGiven(ctx, h, clientId, item);
    if (!live || performance.now() > deadline) return r;
    await delay(20);
  }
}

/** Reservations that committed too late to be served (see HOLD_FENCE_MARGIN_MS) go back. */
async function giveBackLate(
  ctx: LeaseCtx,
  clientId: string,
  items: ReserveItem[],
  epochs: number[],
): Promise<void> {
  ctx.logger.warn(
    { budgetIds: items.map((i) => i.budgetId) },
    'a budget reservation committed too late to be served: given back, decided again',
  );
  for (const [i, item] of items.entries()) {
    const ref = { clientId, ...item, nodeId: ctx.nodeId, epoch: epochs[i]! };
    await ctx.store.release(ref, item.micros);
  }
}

/** A reservation given back: into its lease while that is open, else out of its hold. */
export function refund(
  ctx: LeaseCtx,
  clientId: string,
  item: { budgetId: string; periodStart: string; epoch: number; lease?: BudgetLease | null },
  micros: number,
): void {
  if (item.lease?.open) {
    item.lease.left += micros;
    return;
  }
  const h = { clientId, ...item, nodeId: ctx.nodeId };
  void ctx
    .track(ctx.store.release(h, micros))
    .catch((err: unknown) =>
      ctx.logger.error(
        { err, budgetId: item.budgetId },
        'could not give back a budget reservation',
      ),
    );
}

/**
 * Gives back every hold of a node silent past HOLD_RECLAIM_MS (the sweep: spend comes back to
 * the metered usage even when no call asks), and forgets empty holds untouched for an hour.
 */
export async function reclaimSilent(ctx: LeaseCtx): Promise<void> {
  const h = horizon(ctx);
  for (const p of await ctx.store.silentPeriods(h.reclaimBefore)) {
    const hp = horizon(ctx);
    await ctx.store.liveLeases(p.clientId, { ...p, micros: 0, limit: null }, hp);
    logGiven(ctx, hp, p.clientId, p);
  }
  await ctx.store.dropEmptyHolds(iso(ctx.clock.nowMs() - 3_600_000));
}

/** Keeps this node's holds alive: those of every budget period it reserved on in the last minute. */
export async function heartbeat(ctx: LeaseCtx): Promise<void> {
  const now = ctx.clock.nowMs();
  const since = now - 60_000;
  for (const s of ctx.states.values()) {
    if (s.usedAtMs < since && s.keepUntilMs < now) continue;
    // Each stamped when it is sent: one slow write does not make the next one look old.
    await ctx.store.heartbeat(s.clientId, s, ctx.nodeId, iso(ctx.clock.nowMs()));
  }
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
