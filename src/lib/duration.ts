import { AppError } from './errors.ts';

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `90d`, `2s`, `24h`, `500ms`, `1w` (or a bare number of seconds) into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)?$/.exec(text.trim());
  if (!m)
    throw new AppError('bad_request', `invalid duration "${text}" (use e.g. 30s, 15m, 24h, 90d)`);
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}
