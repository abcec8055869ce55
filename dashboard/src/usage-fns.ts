import type { UsageSummary } from './api.ts';

export interface DayPoint {
  day: string;
  calls: number;
  costMicros: number;
}

const DAY_MS = 86_400_000;

/** One point per UTC day of [from, to), zero where the summary has no group for the day. */
export function dailySeries(summary: UsageSummary): DayPoint[] {
  const byDay = new Map(summary.groups.map((g) => [g.group, g]));
  const start = Date.parse(summary.from.slice(0, 10));
  const end = Date.parse(summary.to);
  const out: DayPoint[] = [];
  for (let t = start; t < end && out.length < 400; t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    const g = byDay.get(day);
    out.push({ day, calls: g?.calls ?? 0, costMicros: g?.costMicros ?? 0 });
  }
  return out;
}

/** Micro-units as a decimal string, exactly (no float touches money). */
export function formatMicros(micros: number): string {
  const neg = micros < 0;
  const s = String(Math.abs(Math.trunc(micros))).padStart(7, '0');
  const whole = s.slice(0, -6);
  const frac = s.slice(-6).replace(/0+$/, '').padEnd(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}
