import type { Logger } from '../infra/logger.ts';
import type { Clock } from '../lib/clock.ts';
import type { Store } from '../store/create-db.ts';
import { previousPeriod } from './billing-fns.ts';
import type { BillingService } from './billing-service.ts';
import { BILLING_FREQUENCIES } from './billing-types.ts';

export interface BillingSchedulerOptions {
  billing: BillingService;
  store: Store;
  logger: Logger;
  clock: Clock;
  /** 'weekly' runs every completed period (weekly and monthly clients); 'off' never does. */
  schedule: 'weekly' | 'off';
  /** wait this long after a period ends before invoicing it (late usage flushes in) */
  runAfterMs: number;
  /** how often to look for a due period */
  checkIntervalMs: number;
  /** email the invoices (when the mailer is configured) */
  send: boolean;
}

/** Any constant: every Keyplane node asks PostgreSQL for this one advisory lock. */
export const BILLING_LOCK_KEY = 0x6b70_6276; // "kpbv"

/**
 * The weekly invoice job of `keyplane serve`. Every node runs this loop; on PostgreSQL only the
 * node holding the advisory lock (on a dedicated connection, released when the run ends or the
 * connection dies) does the work. On SQLite the store's unique constraints already make
 * concurrent runs safe. Runs are idempotent either way, so a crash mid-run is finished by the
 * next tick.
 */
export function createBillingScheduler(opts: BillingSchedulerOptions) {
  const { billing, store, logger, clock } = opts;
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<void> | null = null;
  let stopped = false;

  async function tickOnce(): Promise<{ ran: string[]; locked: boolean }> {
    const ran: string[] = [];
    const pending: string[] = [];
    for (const p of duePeriods(clock, opts.runAfterMs))
      if (!(await billing.runFinished(p))) pending.push(p);
    // One line per check at debug level: tells an operator (and a test) the loop is alive.
    logger.debug({ pending }, 'billing check');
    const send = opts.send && billing.mailer.enabled;
    const locked = await withLock(store, async () => {
      for (const period of pending) {
        if (stopped) return;
        if (await billing.runFinished(period)) continue; // another node finished it meanwhile
        const result = await billing.run({
          period,
          send,
          actor: { type: 'system', id: 'billing-scheduler' },
        });
        ran.push(period);
        logger.info({ ...result }, 'invoice run finished');
      }
      if (send && !stopped) {
        const retried = await billing.sendDue();
        if (retried.sent || retried.failed) logger.info(retried, 'invoice delivery retries');
      }
    });
    return { ran, locked };
  }

  function tick(): Promise<{ ran: string[]; locked: boolean }> {
    const p = tickOnce();
    const settled = p.then(
      () => undefined,
      (err) => logger.error({ err }, 'invoice run failed; the next check retries'),
    );
    current = settled;
    void settled.finally(() => {
      if (current === settled) current = null;
    });
    return p;
  }

  return {
    /** One check now (tests and the loop call this). Resolves with the periods it invoiced. */
    tick,
    start() {
      if (opts.schedule === 'off' || timer) return;
      const loop = () => {
        if (!stopped && !current) tick().catch(() => undefined); // logged by tick
      };
      timer = setInterval(loop, opts.checkIntervalMs);
      timer.unref();
      setTimeout(loop, Math.min(5_000, opts.checkIntervalMs)).unref();
      logger.info(
        { checkIntervalMs: opts.checkIntervalMs, runAfterMs: opts.runAfterMs },
        'billing scheduler started',
      );
    },
    /** Stops the loop and waits for a run in progress to finish. */
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await current;
    },
  };
}

/**
 * Runs `fn` holding the billing advisory lock on PostgreSQL (false when another node holds it);
 * on SQLite simply runs it.
 */
async function withLock(store: Store, fn: () => Promise<void>): Promise<boolean> {
  if (!store.pgPool) {
    await fn();
    return true;
  }
  const conn = await store.pgPool.connect();
  try {
    const { rows } = await conn.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1) as locked',
      [BILLING_LOCK_KEY],
    );
    if (!rows[0]?.locked) return false;
    try {
      await fn();
    } finally {
      await conn.query('select pg_advisory_unlock($1)', [BILLING_LOCK_KEY]).catch(() => undefined);
    }
    return true;
  } finally {
    conn.release();
  }
}

/** The periods due now: the last completed week and month, once the grace time has passed. */
function duePeriods(clock: Clock, runAfterMs: number): string[] {
  const at = new Date(clock.now().getTime() - runAfterMs);
  return BILLING_FREQUENCIES.map((k) => previousPeriod(k, at).id);
}

export type BillingScheduler = ReturnType<typeof createBillingScheduler>;
