import { describe, expect, it } from 'vitest';
import {
  describePeriod,
  formatMoney,
  invoiceNumber,
  isoWeekOf,
  isoWeeksInYear,
  lineItemsOf,
  overlappingPeriods,
  parsePeriod,
  periodContaining,
  previousPeriod,
  uncovered,
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

describe('billed intervals after a change of frequency', () => {
  const at = (d: string) => new Date(`${d}T00:00:00.000Z`);
  const span = (a: string, b: string) => ({ start: at(a), end: at(b) });
  const days = (list: Array<{ start: Date; end: Date }>) =>
    list.map((i) => `${iso(i.start).slice(0, 10)}..${iso(i.end).slice(0, 10)}`);

  it("lists the other kind's periods that overlap a period", () => {
    expect(overlappingPeriods(parsePeriod('2025-10')!).map((p) => p.id)).toEqual([
      '2025-W40',
      '2025-W41',
      '2025-W42',
      '2025-W43',
      '2025-W44',
    ]);
    expect(overlappingPeriods(parsePeriod('2025-09')!).map((p) => p.id)).toEqual([
      '2025-W36',
      '2025-W37',
      '2025-W38',
      '2025-W39',
      '2025-W40',
    ]);
    expect(overlappingPeriods(parsePeriod('2025-W40')!).map((p) => p.id)).toEqual([
      '2025-09',
      '2025-10',
    ]);
    expect(overlappingPeriods(parsePeriod('2025-W42')!).map((p) => p.id)).toEqual(['2025-10']);
  });

  it('subtracts covered intervals from a period', () => {
    const month = span('2025-09-01', '2025-10-01');
    expect(days(uncovered(month, []))).toEqual(['2025-09-01..2025-10-01']);
    expect(
      days(uncovered(month, [span('2025-09-01', '2025-09-08'), span('2025-09-08', '2025-09-15')])),
    ).toEqual(['2025-09-15..2025-10-01']);
    // A week straddling the month's start and end; overlapping and unsorted covers.
    expect(
      days(
        uncovered(span('2025-10-01', '2025-11-01'), [
          span('2025-10-27', '2025-11-03'),
          span('2025-09-29', '2025-10-06'),
          span('2025-10-03', '2025-10-13'),
        ]),
      ),
    ).toEqual(['2025-10-13..2025-10-27']);
    // A hole in the middle leaves two pieces.
    expect(
      days(uncovered(month, [span('2025-09-01', '2025-09-08'), span('2025-09-15', '2025-09-22')])),
    ).toEqual(['2025-09-08..2025-09-15', '2025-09-22..2025-10-01']);
    // Covered entirely (and beyond): nothing left.
    expect(uncovered(month, [span('2025-08-25', '2025-10-06')])).toEqual([]);
    // Covers outside the period change nothing.
    expect(days(uncovered(month, [span('2025-08-01', '2025-09-01')]))).toEqual([
      '2025-09-01..2025-10-01',
    ]);
  });

  it('describes a partly billed period with the days actually billed', () => {
    const month = parsePeriod('2025-09')!;
    expect(describePeriod(month)).toBe('September 2025 (2025-09-01 to 2025-09-30)');
    expect(describePeriod(month, { start: month.start, end: month.end })).toBe(
      'September 2025 (2025-09-01 to 2025-09-30)',
    );
    expect(describePeriod(month, span('2025-09-15', '2025-10-01'))).toBe(
      'September 2025, billed 2025-09-15 to 2025-09-30',
    );
    expect(describePeriod(parsePeriod('2025-W40')!, span('2025-10-01', '2025-10-06'))).toBe(
      'ISO week 2025-W40, billed 2025-10-01 to 2025-10-05',
    );
  });
});
