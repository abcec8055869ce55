import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { isIdOf, newId } from '../lib/ids.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { BudgetGate } from './budgets-gate.ts';
import { reservationAccount } from './budgets-ledger.ts';
import type { Reservation } from './budgets-reservation-store.ts';
import type { BudgetsStore } from './budgets-store.ts';
import type { BudgetHold } from './budgets-types.ts';

/**
 * Durable reservations: a service that checks keys itself (POST /admin/v1/verify) gets the
 * reservation's id, and reports its call later (POST /admin/v1/usage/events), maybe to another
 * node. The report settles the reservation once, at the call's real price, in the usage batch
 * that meters it; one not reported within the timeout is released by the sweep.
 */
export interface ReservationsCtx {
  store: BudgetsStore;
  gate: BudgetGate;
  clock: Clock;
  logger: Logger;
  priceOf: (endpoint: string, environment: KeyEnvironment) => number;
  /** how long a reservation waits for its report before the sweep releases it */
  timeoutMs: number;
}

/** A reported call, as far as its reservation cares. */
export interface ReservationReport {
  clientId: string;
  keyId: string;
  /** absent: the event names no reservation (it settles nothing) */
  reservationId: string | undefined;
  endpoint: string;
  status: number;
  environment: KeyEnvironment;
}

/** Settled reservations are forgotten after an hour, released ones after a day. */
const KEEP_SETTLED_MS = 3_600_000;
export const KEEP_RELEASED_MS = 86_400_000;
const RELEASE_PAGE = 100;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Makes a verified call's reservation durable: one row per budget, naming the hold its price
 * is in (kept alive by this node until the timeout). Answers the reservation's id. When it
 * cannot be written, the reservation is given back and the error goes on.
 */
export async function reserveForReport(
  ctx: ReservationsCtx,
  hold: BudgetHold,
  call: { keyId: string; endpoint: string },
): Promise<string> {
  const now = ctx.clock.nowMs();
  const id = newId('budgetReservation', now);
  const expires = now + ctx.timeoutMs;
  const items = ctx.gate.keep(hold, expires);
  const reservation = {
    id,
    clientId: hold.clientId,
    ...call,
    priceMicros: hold.priceMicros,
    items,
  };
  try {
    await ctx.store.insertReservation(reservation, iso(now), iso(expires));
  } catch (err) {
    ctx.gate.cancel(hold);
    throw err;
  }
  return id;
}

type Ledger = Array<{ account: string; micros: number }>;

/**
 * What the usage event of each reported call settles in its batch: its reservation at the
 * call's real price (a server error, a free endpoint, a test key: 0, so the reservation is
 * refunded), or nothing (undefined) when the id names no open reservation of the event's own
 * client and key (unknown, settled, another client's or key's: all alike). One query per
 * client in the reports.
 */
export async function settlementsOf(
  ctx: ReservationsCtx,
  reports: ReservationReport[],
): Promise<Array<Ledger | undefined>> {
  const wanted = new Map<string, Set<string>>();
  for (const r of reports) {
    const id = r.reservationId;
    if (id === undefined || !isIdOf('budgetReservation', id)) continue;
    wanted.set(r.clientId, (wanted.get(r.clientId) ?? new Set<string>()).add(id));
  }
  const found = new Map<string, Reservation>();
  for (const [clientId, ids] of wanted) {
    for (const res of await ctx.store.findOpenReservations(clientId, [...ids])) {
      found.set(`${clientId}\u0000${res.id}`, res);
    }
  }
  return reports.map((report) => {
    if (report.reservationId === undefined) return undefined;
    const r = found.get(`${report.clientId}\u0000${report.reservationId}`);
    if (!r || r.keyId !== report.keyId) return undefined;
    // As metering prices it: a server error costs nothing (priceOf: neither does a test key).
    const real = report.status >= 500 ? 0 : ctx.priceOf(report.endpoint, report.environment);
    return [{ account: reservationAccount({ reservation: r, realMicros: real }), micros: 0 }];
  });
}

/**
 * The sweep: reservations past their timeout go back to their budgets (their call was never
 * metered); settled ones are forgotten after an hour, released ones after a day. Answers how
 * many were released.
 */
export async function releaseExpired(ctx: ReservationsCtx): Promise<number> {
  const now = ctx.clock.nowMs();
  let released = 0;
  for (;;) {
    const due = await ctx.store.expiredReservations(iso(now), RELEASE_PAGE);
    for (const r of due) {
      if (await ctx.store.releaseReservation(r.clientId, r.id, iso(now))) released++;
    }
    if (due.length < RELEASE_PAGE) break;
  }
  await ctx.store.pruneReservations(iso(now - KEEP_SETTLED_MS), iso(now - KEEP_RELEASED_MS));
  if (released) ctx.logger.info({ released }, 'budget reservations not reported in time released');
  return released;
}

/** Durable reservations, as the budgets service offers them (see the functions above). */
export function createReservations(ctx: ReservationsCtx) {
  return {
    /** A verified call's reservation, made durable for its usage report: its id. */
    reserveForReport: (hold: BudgetHold, call: { keyId: string; endpoint: string }) =>
      reserveForReport(ctx, hold, call),
    /** What each reported call's usage event settles in its batch (see settlementsOf). */
    settlementsOf: (reports: ReservationReport[]) => settlementsOf(ctx, reports),
    /** Releases the reservations not reported in time (also run by the 30 s sweep). */
    releaseExpiredReservations: () => releaseExpired(ctx),
  };
}
