import { describe, expect, it } from 'vitest';
import type { UsageSummary } from './api.ts';
import { dailySeries, formatMicros } from './usage-fns.ts';

const money = { calls: 0, testCalls: 0, costMicros: 0, cost: '0.00' };

describe('dailySeries', () => {
  it('gives one point per UTC day of [from, to), zero on days without calls', () => {
    const summary: UsageSummary = {
      from: '2025-10-01T12:30:00.000Z',
      to: '2025-10-04T08:00:00.000Z',
      currency: 'EUR',
      totals: money,
      groups: [
        { group: '2025-10-02', calls: 3, testCalls: 1, costMicros: 20_000, cost: '0.02' },
        { group: '2025-10-04', calls: 1, testCalls: 0, costMicros: 10_000, cost: '0.01' },
      ],
    };
    expect(dailySeries(summary)).toEqual([
      { day: '2025-10-01', calls: 0, costMicros: 0 },
      { day: '2025-10-02', calls: 3, costMicros: 20_000 },
      { day: '2025-10-03', calls: 0, costMicros: 0 },
      { day: '2025-10-04', calls: 1, costMicros: 10_000 },
    ]);
  });

  it('covers the default 30-day window with 31 calendar days at most', () => {
    const s = dailySeries({
      from: '2025-09-01T10:00:00.000Z',
      to: '2025-10-01T10:00:00.000Z',
      currency: 'EUR',
      totals: money,
      groups: [],
    });
    expect(s).toHaveLength(31);
    expect(s[0]!.day).toBe('2025-09-01');
    expect(s.at(-1)!.day).toBe('2025-10-01');
  });
});

describe('formatMicros', () => {
  it('prints micro-units exactly, with at least two decimals', () => {
    expect(formatMicros(0)).toBe('0.00');
    expect(formatMicros(50_000)).toBe('0.05');
    expect(formatMicros(1_234_567)).toBe('1.234567');
    expect(formatMicros(2_430_000)).toBe('2.43');
    expect(formatMicros(-10_000)).toBe('-0.01');
    expect(formatMicros(9_007_199_254_740_000)).toBe('9007199254.74');
  });
});
