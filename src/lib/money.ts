/**
 * Money is integer micro-units of the currency (1 EUR = 1_000_000 micros) everywhere; decimal
 * strings only at the edges. Parsing is exact: "0.01" is 10_000 micros, never 0.01 as a float.
 */
export const MICROS_PER_UNIT = 1_000_000;

/** The largest amount of money taken as input (budgets): 10^15 micros, a billion units, inside 2^53. */
export const MAX_MONEY_MICROS = 1_000_000_000_000_000;

const DECIMAL = /^(-)?(\d+)(?:\.(\d{1,6}))?$/;

/**
 * Parses a price in currency units (number or decimal string, at most 6 decimals) into micros.
 * Numbers are read through their shortest decimal text (`0.1` → "0.1"), so no float rounding
 * ever reaches the result. Throws RangeError on anything else.
 */
export function toMicros(value: number | string): number {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`not a finite amount: ${value}`);
    text = String(value);
    // 1e-7 and 1e21 style: only accept when the fixed form is exact to 6 decimals.
    if (/e/i.test(text)) {
      const fixed = value.toFixed(6);
      if (Number(fixed) !== value) throw new RangeError(`more than 6 decimals: ${value}`);
      text = fixed;
    }
  } else {
    text = value.trim();
  }
  const m = DECIMAL.exec(text);
  if (!m) throw new RangeError(`not a decimal amount with at most 6 decimals: "${value}"`);
  const units = Number(m[2]);
  const frac = Number((m[3] ?? '').padEnd(6, '0'));
  const micros = units * MICROS_PER_UNIT + frac;
  if (!Number.isSafeInteger(micros)) throw new RangeError(`amount too large: "${value}"`);
  return m[1] && micros !== 0 ? -micros : micros;
}

/**
 * Renders micros as a decimal string with at least 2 and at most 6 decimals:
 * 10_000 → "0.01", 2_000 → "0.002", 1_500_000 → "1.50", 0 → "0.00".
 */
export function formatMicros(micros: number): string {
  if (!Number.isSafeInteger(micros)) throw new RangeError(`not an integer amount: ${micros}`);
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const units = Math.floor(abs / MICROS_PER_UNIT);
  let frac = String(abs % MICROS_PER_UNIT).padStart(6, '0');
  while (frac.length > 2 && frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${sign}${units}.${frac}`;
}

/** `calls × unit price`, refusing results beyond 2^53 instead of rounding them. */
export function multiplyMicros(unitMicros: number, count: number): number {
  const total = unitMicros * count;
  if (!Number.isSafeInteger(total)) throw new RangeError('amount too large');
  return total;
}
