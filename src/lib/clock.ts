export interface Clock {
  now(): Date;
  /** `now().getTime()` without a Date: what the per-request paths read. */
  nowMs(): number;
}

export const systemClock: Clock = { now: () => new Date(), nowMs: () => Date.now() };

/** A clock that tests move by hand. */
export function createManualClock(start = new Date('2025-10-01T00:00:00.000Z')) {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    nowMs: () => t,
    set: (d: Date) => {
      t = d.getTime();
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

let lastMs = -1;
let lastIso = '';

/**
 * `new Date(ms).toISOString()`, made once per millisecond: under load many requests answer or
 * log within the same one, and formatting is the dearer part.
 */
export function isoOf(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
