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
