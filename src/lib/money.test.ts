import { describe, expect, it } from 'vitest';
import { formatMicros, multiplyMicros, toMicros } from './money.ts';

describe('toMicros', () => {
  it.each([
    [0, 0],
    ['0', 0],
    [0.01, 10_000],
    ['0.01', 10_000],
    [0.05, 50_000],
    [0.1, 100_000],
    ['0.10', 100_000],
    [0.3, 300_000],
    ['0.002', 2_000],
    [1.15, 1_150_000],
    ['12.345678', 12_345_678],
    [12.345678, 12_345_678],
    [1e-6, 1],
    [5e-5, 50],
    ['-0.5', -500_000],
    [1000000, 1_000_000_000_000],
  ])('%s → %s micros, exactly', (input, expected) => {
    expect(toMicros(input)).toBe(expected);
  });

  it('sums of float-looking prices stay exact', () => {
    // 0.1 + 0.2 !== 0.3 in floats; in micros it is.
    expect(toMicros(0.1) + toMicros(0.2)).toBe(toMicros('0.3'));
  });

  it.each(['', 'abc', '1.2345678', '1e3', '0x10', '1,5', '.5', '5.', ' 1 2'])(
    'rejects "%s"',
    (input) => {
      expect(() => toMicros(input)).toThrow(RangeError);
    },
  );

  it.each([1e-7, Number.NaN, Infinity, 1.0000001])('rejects %s', (input) => {
    expect(() => toMicros(input)).toThrow(RangeError);
  });

  it('rejects amounts beyond 2^53 micros', () => {
    expect(() => toMicros('99999999999999999')).toThrow(RangeError);
  });
});

describe('formatMicros', () => {
  it.each([
    [0, '0.00'],
    [10_000, '0.01'],
    [50_000, '0.05'],
    [2_000, '0.002'],
    [1, '0.000001'],
    [1_500_000, '1.50'],
    [2_430_000, '2.43'],
    [123_456_789, '123.456789'],
    [-50_000, '-0.05'],
  ])('%s → "%s"', (micros, text) => {
    expect(formatMicros(micros)).toBe(text);
  });

  it('round-trips through toMicros', () => {
    for (const m of [0, 1, 9, 10_000, 999_999, 1_000_000, 7_654_321_012]) {
      expect(toMicros(formatMicros(m))).toBe(m);
    }
  });

  it('refuses fractional micros', () => {
    expect(() => formatMicros(0.5)).toThrow(RangeError);
  });
});

describe('multiplyMicros', () => {
  it('multiplies exactly', () => {
    expect(multiplyMicros(10_000, 157)).toBe(1_570_000);
  });
  it('refuses overflow', () => {
    expect(() => multiplyMicros(2 ** 40, 2 ** 20)).toThrow(RangeError);
  });
});
