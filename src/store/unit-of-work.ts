import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.ts';

/**
 * One transaction across modules (the import writes a row through several services, plus its
 * bookkeeping, and must commit all of it or none). Inside `inUnit(fn)` every store query, made
 * through the db that `scopedDb` returns, runs on the unit's transaction; a store's own
 * `transaction()` joins it. Work queued with `afterCommit` (change-feed announcements) runs once
 * the unit has committed, and is dropped when it rolls back. Outside a unit nothing changes.
 */
interface Unit {
  trx: Transaction<Database>;
  open: boolean;
  after: Array<() => Promise<void>>;
}

const current = new AsyncLocalStorage<Unit>();

const openUnit = (): Unit | undefined => {
  const unit = current.getStore();
  return unit?.open ? unit : undefined;
};

/** `db`, but bound to the current unit's transaction while one is open. */
export function scopedDb(db: Kysely<Database>): Kysely<Database> {
  return new Proxy(db, {
    get(target, prop) {
      const unit = openUnit();
      if (!unit) {
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      }
      if (prop === 'transaction' || prop === 'connection') {
        // Joins the unit: its transaction is the one the caller's queries run on.
        return () => ({
          execute: <T>(fn: (trx: Transaction<Database>) => Promise<T>) => fn(unit.trx),
        });
      }
      const value = Reflect.get(unit.trx, prop, unit.trx) as unknown;
      return typeof value === 'function' ? value.bind(unit.trx) : value;
    },
  });
}

/** Runs `fn` in one transaction on `db` (the unscoped one); joins an open unit instead. */
export function createUnitOfWork(db: Kysely<Database>) {
  return async function inUnit<T>(fn: () => Promise<T>): Promise<T> {
    if (openUnit()) return fn();
    const unit: Unit = {
      trx: undefined as unknown as Transaction<Database>,
      open: false,
      after: [],
    };
    const result = await db.transaction().execute(async (trx) => {
      unit.trx = trx;
      unit.open = true;
      try {
        return await current.run(unit, fn);
      } finally {
        unit.open = false;
      }
    });
    for (const run of unit.after) await run();
    return result;
  };
}

export type UnitOfWork = ReturnType<typeof createUnitOfWork>;

/** Inside an open unit: queues `fn` until it commits and answers true. Outside: false. */
export function afterCommit(fn: () => Promise<void>): boolean {
  const unit = openUnit();
  if (!unit) return false;
  unit.after.push(fn);
  return true;
}
