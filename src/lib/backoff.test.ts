import { describe, expect, it } from 'vitest';
import { backoffMs, jitteredBackoffMs } from './backoff.ts';

describe('backoff', () => {
  it('doubles from the base and stops at the cap', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4].map((a) => backoffMs(a, opts))).toEqual([100, 200, 400, 800, 1000]);
  });

  it('draws the jittered delay below the backoff', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    const top = () => 0.999999;
    expect([0, 1, 2, 10].map((a) => jitteredBackoffMs(a, opts, top))).toEqual([99, 199, 399, 999]);
    expect(jitteredBackoffMs(3, opts, () => 0)).toBe(0);
    expect(jitteredBackoffMs(3, opts, () => 0.5)).toBe(400);
  });
});
