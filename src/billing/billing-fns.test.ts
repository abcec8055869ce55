import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  formatMoney,
  invoiceNumber,
  isoWeekOf,
  isoWeeksInYear,
  lineItemsOf,
  parsePeriod,
  periodContaining,
  previousPeriod,
} from './billing-fns.ts';

const iso = (d: Date) => d.toISOString();

describe('periods', () => {
  it('parses an ISO week into [Monday, next Monday) UTC', () => {
    const p = parsePeriod('2025-W40')!;
    expect(p.kind).toBe('weekly');
    expect(iso(p.start)).toBe('2025-09-29T00:00:00.000Z');
    expect(iso(p.end)).toBe('2025-10-06T00:00:00.000Z');
  });

  it('parses week 1 that starts in the previous year and week 53 of long years', () => {
    expect(iso(parsePeriod('2025-W01')!.start)).toBe('2024-12-30T00:00:00.000Z');
    expect(iso(parsePeriod('2020-W53')!.start)).toBe('2020-12-28T00:00:00.000Z');
    expect(iso(parsePeriod('2020-W53')!.end)).toBe('2021-01-04T00:00:00.000Z');
    expect(parsePeriod('2025-W53')).toBeNull();
    expect(isoWeeksInYear(2020)).toBe(53);
    expect(isoWeeksInYear(2026)).toBe(53);
    expect(isoWeeksInYear(2025)).toBe(52);
  });

  it('parses months, including December into the next year', () => {
    const p = parsePeriod('2025-10')!;
    expect(p.kind).toBe('monthly');
    expect(iso(p.start)).toBe('2025-10-01T00:00:00.000Z');
    expect(iso(p.end)).toBe('2025-11-01T00:00:00.000Z');
    expect(iso(parsePeriod('2025-12')!.end)).toBe('2026-01-01T00:00:00.000Z');
  });

  it('rejects anything else', () => {
    for (const bad of [
      '2025-W00',
      '2025-W54',
      '2025-13',
      '2025-00',
      '2025-W4',
      '25-W40',
      '',
      'x',
    ]) {
      expect(parsePeriod(bad), bad).toBeNull();
    }
  });

  it('finds the ISO week of an instant across year boundaries', () => {
    expect(isoWeekOf(new Date('2024-12-30T00:00:00Z'))).toEqual({ year: 2025, week: 1 });
    expect(isoWeekOf(new Date('2021-01-03T23:59:59Z'))).toEqual({ year: 2020, week: 53 });
    expect(isoWeekOf(new Date('2025-10-05T23:59:59.999Z'))).toEqual({ year: 2025, week: 40 });
    expect(isoWeekOf(new Date('2025-10-06T00:00:00Z'))).toEqual({ year: 2025, week: 41 });
  });

  it('every week of a span round-trips through its id and tiles time without gaps', () => {
    let p = periodContaining('weekly', new Date('2019-12-20T12:00:00Z'));
    for (let i = 0; i < 400; i++) {
      expect(parsePeriod(p.id)).toEqual(p);
      const next = periodContaining('weekly', p.end);
      expect(next.start.getTime()).toBe(p.end.getTime());
      p = next;
    }
  });

  it('previousPeriod is the last completed one', () => {
    const now = new Date('2025-10-06T00:30:00Z'); // Monday of W41
    expect(previousPeriod('weekly', now).id).toBe('2025-W40');
    expect(previousPeriod('monthly', now).id).toBe('2025-09');
    expect(previousPeriod('monthly', new Date('2026-01-01T00:00:00Z')).id).toBe('2025-12');
  });
});

describe('invoice numbers', () => {
  it('is INV-{period}-{seq} with a 4-digit sequence', () => {
    expect(invoiceNumber('2025-W40', 1)).toBe('INV-2025-W40-0001');
    expect(invoiceNumber('2025-10', 12)).toBe('INV-2025-10-0012');
    expect(invoiceNumber('2025-W40', 12345)).toBe('INV-2025-W40-12345');
  });
});

describe('line items', () => {
  it('groups by endpoint and price, sums exactly, sorts by endpoint', () => {
    const { lineItems, totalMicros } = lineItemsOf([
      {
        clientId: 'c',
        endpoint: 'POST /api/video/analyze',
        unitPriceMicros: 50_000,
        calls: 10,
        amountMicros: 500_000,
      },
      {
        clientId: 'c',
        endpoint: 'POST /api/video/buffer',
        unitPriceMicros: 10_000,
        calls: 157,
        amountMicros: 1_570_000,
      },
      {
        clientId: 'c',
        endpoint: 'POST /api/video/analyze',
        unitPriceMicros: 50_000,
        calls: 5,
        amountMicros: 250_000,
      },
      {
        clientId: 'c',
        endpoint: 'POST /api/alert',
        unitPriceMicros: 100_000,
        calls: 1,
        amountMicros: 100_000,
      },
      {
        clientId: 'c',
        endpoint: 'POST /api/alert',
        unitPriceMicros: 120_000,
        calls: 1,
        amountMicros: 120_000,
      },
    ]);
    expect(lineItems.map((l) => [l.endpoint, l.calls, l.unitPriceMicros, l.amountMicros])).toEqual([
      ['POST /api/alert', 1, 100_000, 100_000],
      ['POST /api/alert', 1, 120_000, 120_000],
      ['POST /api/video/analyze', 15, 50_000, 750_000],
      ['POST /api/video/buffer', 157, 10_000, 1_570_000],
    ]);
    expect(totalMicros).toBe(2_540_000);
    expect(lineItems[2]!.unitPrice).toBe('0.05');
    expect(lineItems[2]!.amount).toBe('0.75');
  });

  it('keeps sub-cent amounts exact (0.1 + 0.2 is 0.3)', () => {
    const { totalMicros } = lineItemsOf([
      { clientId: 'c', endpoint: 'a', unitPriceMicros: 100_000, calls: 1, amountMicros: 100_000 },
      { clientId: 'c', endpoint: 'b', unitPriceMicros: 200_000, calls: 1, amountMicros: 200_000 },
      { clientId: 'c', endpoint: 'c', unitPriceMicros: 2_000, calls: 3, amountMicros: 6_000 },
    ]);
    expect(totalMicros).toBe(306_000);
  });

  it('drops lines without calls and without amount', () => {
    expect(
      lineItemsOf([{ clientId: 'c', endpoint: 'a', unitPriceMicros: 1, calls: 0, amountMicros: 0 }])
        .lineItems,
    ).toEqual([]);
  });
});

describe('money formatting', () => {
  it('formats with the currency symbol, grouping and exact decimals', () => {
    expect(formatMoney(2_430_000, 'EUR')).toBe('€2.43');
    expect(formatMoney(1_234_567_890_000, 'EUR')).toBe('€1,234,567.89');
    expect(formatMoney(2_000, 'USD')).toBe('$0.002');
    expect(formatMoney(1_500_000, 'USD')).toBe('$1.50');
    expect(formatMoney(0, 'EUR')).toBe('€0.00');
    expect(formatMoney(12_000_000, 'CHF')).toBe('CHF\u00a012.00');
    expect(formatMoney(1_200_000_000, 'JPY')).toBe('¥1,200');
    expect(formatMoney(1_200_500_000, 'JPY')).toBe('¥1,200.5');
    expect(formatMoney(-50_000, 'EUR')).toBe('-€0.05');
  });
});

describe('backoff', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(a, 100, 1000))).toEqual([100, 200, 400, 800, 1000]);
  });
});
