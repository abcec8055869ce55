/**
 * Retries with backoff and a circuit breaker for calls to providers (seed 05: transient
 * failures retry, permanent ones do not; a provider that keeps failing is left alone for a
 * cooldown instead of being hammered).
 */
import { jitteredBackoffMs, type BackoffOptions } from '../lib/backoff.ts';

/** One attempt's outcome. A `transient` failure may be retried; a permanent one may not. */
export type Attempt<T> =
  { ok: true; value: T } | { ok: false; transient: boolean; reason: string; status?: number };

/** 408, 425, 429 and every 5xx are worth another try; other 4xx answers are final. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export interface RetryOptions extends BackoffOptions {
  /** Extra attempts after the first. */
  retries: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` until it succeeds, fails permanently, or the retries run out. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<Attempt<T>>,
  opts: RetryOptions,
): Promise<Attempt<T> & { attempts: number }> {
  const sleep = opts.sleep ?? realSleep;
  for (let attempt = 0; ; attempt++) {
    const result = await fn(attempt);
    if (result.ok || !result.transient || attempt >= opts.retries) {
      return { ...result, attempts: attempt + 1 };
    }
    await sleep(jitteredBackoffMs(attempt, opts, opts.random));
  }
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive transient failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before letting one probe through. */
  cooldownMs: number;
  now: () => number;
}

/**
 * closed → (threshold consecutive failures) → open → (cooldown) → half_open: one probe call;
 * its success closes the circuit, its failure opens it for another cooldown.
 */
export function createCircuitBreaker(opts: CircuitBreakerOptions) {
  let failures = 0;
  let openedAt: number | null = null;
  let probing = false;

  const state = (): BreakerState => {
    if (openedAt === null) return 'closed';
    return opts.now() - openedAt >= opts.cooldownMs ? 'half_open' : 'open';
  };

  return {
    state,
    /** Whether a call may go out now; in half_open only one probe at a time. */
    tryPass(): { allowed: true } | { allowed: false; retryInMs: number } {
      const s = state();
      if (s === 'closed') return { allowed: true };
      if (s === 'half_open' && !probing) {
        probing = true;
        return { allowed: true };
      }
      const retryInMs = Math.max(0, (openedAt ?? 0) + opts.cooldownMs - opts.now());
      return { allowed: false, retryInMs };
    },
    /** The provider answered (even with 401): it is up. */
    recordSuccess(): void {
      failures = 0;
      openedAt = null;
      probing = false;
    },
    recordFailure(): void {
      probing = false;
      if (openedAt !== null) {
        // A failed probe (or a late failure while open) restarts the cooldown.
        openedAt = opts.now();
        return;
      }
      failures++;
      if (failures >= opts.failureThreshold) openedAt = opts.now();
    },
  };
}

export type CircuitBreaker = ReturnType<typeof createCircuitBreaker>;
