import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import { isIdOf, newId } from '../lib/ids.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { BudgetGate } from './budgets-gate.ts';
import { reservationAccount } from './budgets-ledger.ts';
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
  reservationId: string;
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

/**
 * What the usage event of a reported call settles in its batch: its reservation at the call's
 * real price (a server error, a free endpoint: 0, so the reservation is refunded), or nothing
 * when the id names no open reservation of this client's key (unknown, settled, another's).
 */
export async function settlementOf(
  ctx: ReservationsCtx,
  report: ReservationReport,
): Promise<Array<{ account: string; micros: number }> | undefined> {
  if (!isIdOf('budgetReservation', report.reservationId)) return undefined;
  const r = await ctx.store.findOpenReservation(
    report.clientId,
    report.keyId,
    report.reservationId,
  );
  if (!r) return undefined;
  const real =
    report.environment === 'test' || report.status >= 500
      ? 0
      : ctx.priceOf(report.endpoint, report.environment);
  return [{ account: reservationAccount({ reservation: r, realMicros: real }), micros: 0 }];
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
    /** What a reported call's usage event settles in its batch (see settlementOf). */
    settlementOf: (report: ReservationReport) => settlementOf(ctx, report),
    /** Releases the reservations not reported in time (also run by the 30 s sweep). */
    releaseExpiredReservations: () => releaseExpired(ctx),
  };
}
