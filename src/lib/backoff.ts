/** Exponential backoff, the one rule every retry in the server uses. `attempt` counts from 0. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** base, 2·base, 4·base, … capped at max. */
export function backoffMs(attempt: number, opts: BackoffOptions): number {
  return Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, attempt));
}

/**
 * With full jitter: a delay drawn from [0, backoffMs(attempt)), so that many callers retrying
 * together spread out.
 */
export function jitteredBackoffMs(
  attempt: number,
  opts: BackoffOptions,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffMs(attempt, opts));
}
