import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/database.ts';
import {
  compiled,
  holdLive,
  holdRow,
  holdSettlementWrites,
  lockSpendWrite,
  parseAccount,
  spendRowOf,
  type BatchStatement,
} from './budgets-hold-store.ts';
import type { Reservation, ReservationItem } from './budgets-reservation-store.ts';

/**
 * A usage batch's budget writes (usage knows them only as opaque accounts): settlements of
 * this node's holds (the HTTP faces' calls, budgets-hold-store.ts) and settlements of durable
 * reservations by their usage report (POST /admin/v1/verify, then /usage/events).
 */

const RESERVATION = 'res:';

/** A reported call's settlement of its reservation, at the price the call really costs. */
export interface ReservationSettlement {
  reservation: Reservation;
  /** what the call costs by the price book and its status (0: refunded) */
  realMicros: number;
}

/**
 * The account a reported call settles its reservation under. It names everything the batch
 * needs (no query when the batch is sealed); the micros summed under it are not used, so two
 * events naming one reservation at one price are one settlement, and at two prices two, of
 * which only the first claims it.
 */
export function reservationAccount(s: ReservationSettlement): string {
  const r = s.reservation;
  const items = r.items.map((i) => [i.budgetId, i.periodStart, i.nodeId, i.epoch]);
  return (
    RESERVATION + JSON.stringify([r.id, r.clientId, r.keyId, s.realMicros, r.priceMicros, items])
  );
}

interface Claim {
  id: string;
  clientId: string;
  keyId: string;
  real: number;
  reserved: number;
  items: ReservationItem[];
  /** names this settlement in the claimed rows: its other statements run only if it won */
  token: string;
}

function parseReservation(account: string): Claim {
  const [id, clientId, keyId, real, reserved, items] = JSON.parse(
    account.slice(RESERVATION.length),
  ) as [string, string, string, number, number, Array<[string, string, string, number]>];
  return {
    id,
    clientId,
    keyId,
    real,
    reserved,
    items: items.map(([budgetId, periodStart, nodeId, epoch]) => ({
      budgetId,
      periodStart,
      nodeId,
      epoch,
    })),
    token: randomUUID(),
  };
}

/**
 * Claims a reservation once: only while no settlement did (a released one too: its late report
 * is added to the spend). Its row lock makes a concurrent claim or release wait and then see it.
 */
function claimWrite(db: Kysely<Database>, c: Claim, at: string): BatchStatement {
  return compiled(
    db
      .updateTable('budget_reservations')
      .set({ settled_at: at, settled_by: c.token })
      .where('id', '=', c.id)
      .where('client_id', '=', c.clientId)
      .where('key_id', '=', c.keyId)
      .where('settled_at', 'is', null)
      .compile(),
  );
}

/**
 * One budget of a claimed reservation, under the spend row's lock: released before (its price
 * went back) or its hold given back since (a silent node's, the price with it), the real price
 * is added to the spend; else the price moves from held to metered at the real price (spend +=
 * real − reserved; a refund when the call costs nothing).
 */
function claimedItemWrites(db: Kysely<Database>, c: Claim, it: ReservationItem): BatchStatement[] {
  const mine = (released: boolean) =>
    db
      .selectFrom('budget_reservations')
      .select('budget_reservations.id')
      .where('budget_reservations.id', '=', c.id)
      .where('budget_reservations.budget_id', '=', it.budgetId)
      .where('budget_reservations.settled_by', '=', c.token)
      .where('budget_reservations.released_at', released ? 'is not' : 'is', null);
  const spend = spendRowOf(db, c.clientId, it);
  const add = (micros: number) =>
    spend.set((eb) => ({ spent_micros: eb('spent_micros', '+', micros) }));
  const live = holdLive(db, it);
  return [
    lockSpendWrite(db, c.clientId, it),
    compiled(
      add(c.real)
        .where((eb) =>
          eb.or([eb.exists(mine(true)), eb.and([eb.exists(mine(false)), eb.not(eb.exists(live))])]),
        )
        .compile(),
    ),
    compiled(
      add(c.real - c.reserved)
        .where((eb) => eb.and([eb.exists(mine(false)), eb.exists(live)]))
        .compile(),
    ),
    compiled(
      holdRow(db, c.clientId, it.budgetId, it.periodStart, it.nodeId)
        .where('epoch', '=', it.epoch)
        .where((eb) => eb.exists(mine(false)))
        .set((eb) => ({ held_micros: eb('held_micros', '-', c.reserved) }))
        .compile(),
    ),
  ];
}

/**
 * Every budget write of a usage batch, run in its transaction after it claimed its id: the
 * reservations' claims first (in id order), then every spend row's writes in budget order, so
 * two batches (or a batch and a release, which claims first too) never deadlock.
 */
export function ledgerWrites(
  db: Kysely<Database>,
  entries: Array<[string, number]>,
  at: string,
): BatchStatement[] {
  const claims = entries
    .filter(([a]) => a.startsWith(RESERVATION))
    .map(([a]) => parseReservation(a))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const units: Array<{ order: string; writes: () => BatchStatement[] }> = [];
  for (const [account, micros] of entries) {
    if (account.startsWith(RESERVATION)) continue;
    const h = parseAccount(account);
    units.push({
      order: h.budgetId + h.periodStart,
      writes: () => holdSettlementWrites(db, h, micros),
    });
  }
  for (const c of claims) {
    for (const it of c.items) {
      units.push({
        order: it.budgetId + it.periodStart,
        writes: () => claimedItemWrites(db, c, it),
      });
    }
  }
  units.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  return [...claims.map((c) => claimWrite(db, c, at)), ...units.flatMap((u) => u.writes())];
}
