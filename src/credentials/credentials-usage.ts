import type { Logger } from '../infra/logger.ts';
import type { CredentialsStore } from './credentials-store.ts';

/**
 * Use counters (usageCount / lastUsedAt): counted in memory, written in batches within
 * `flushMs`, flushed on close. A resolve never waits for a counter write, and N uses of one
 * credential cost one UPDATE (`usage_count + N`), so several nodes may add to the same row.
 */
export function createUseCounter(deps: {
  store: Pick<CredentialsStore, 'addUsage'>;
  logger: Logger;
  flushMs: number;
}) {
  const { store, logger, flushMs } = deps;
  const pending = new Map<string, { owner: string; id: string; count: number; last: string }>();
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;

  function countUse(owner: string, id: string, at: string) {
    const k = `${owner}\n${id}`;
    const p = pending.get(k);
    if (p) {
      p.count++;
      if (at > p.last) p.last = at;
    } else pending.set(k, { owner, id, count: 1, last: at });
    if (!flushTimer) {
      flushTimer = setTimeout(() => void flushUsage(), flushMs);
      flushTimer.unref();
    }
  }

  async function flushUsage(): Promise<void> {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    if (flushing) await flushing;
    if (!pending.size) return;
    const batch = [...pending.values()];
    pending.clear();
    flushing = (async () => {
      for (const [i, u] of batch.entries()) {
        try {
          await store.addUsage(u.owner, u.id, u.count, u.last);
        } catch (err) {
          // Put back what was not written; the next flush tries again.
          for (const rest of batch.slice(i)) {
            const k = `${rest.owner}\n${rest.id}`;
            const p = pending.get(k);
            if (p) {
              p.count += rest.count;
              if (rest.last > p.last) p.last = rest.last;
            } else pending.set(k, { ...rest });
          }
          logger.error({ err }, 'credential usage flush failed; will retry');
          if (!flushTimer) {
            flushTimer = setTimeout(() => void flushUsage(), flushMs);
            flushTimer.unref();
          }
          return;
        }
      }
    })();
    try {
      await flushing;
    } finally {
      flushing = null;
    }
  }

  return {
    count: countUse,
    flush: flushUsage,
    /** Uses not yet written, so reads on this node include them. */
    pendingFor(owner: string, id: string): { count: number; last: string } | undefined {
      const p = pending.get(`${owner}\n${id}`);
      return p && { count: p.count, last: p.last };
    },
  };
}

export type UseCounter = ReturnType<typeof createUseCounter>;
