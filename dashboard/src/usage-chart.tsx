import type { UsageSummary } from './api.ts';
import { dailySeries, formatMicros, type DayPoint } from './usage-fns.ts';

function Bars({
  points,
  value,
  label,
  format,
  className,
}: {
  points: DayPoint[];
  value: (p: DayPoint) => number;
  label: string;
  format: (v: number) => string;
  className: string;
}) {
  const width = 900;
  const height = 120;
  const top = Math.max(0, ...points.map(value));
  // Scale to the busiest day; with nothing at all, say so instead of a made-up maximum.
  const max = Math.max(1, top);
  const bw = width / Math.max(1, points.length);
  return (
    <figure className="chart">
      <figcaption>
        {label}{' '}
        <span className="muted">
          {top > 0 ? `(max ${format(top)} a day)` : '(none in this period)'}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height + 16}`} role="img" aria-label={label}>
        <line x1="0" y1={height} x2={width} y2={height} className="axis" />
        {points.map((p, i) => {
          const v = value(p);
          const h = (v / max) * (height - 4);
          return (
            <rect
              key={p.day}
              className={className}
              x={i * bw + 1}
              y={height - h}
              width={Math.max(1, bw - 2)}
              height={h}
            >
              <title>{`${p.day}: ${format(v)}`}</title>
            </rect>
          );
        })}
        {points.length > 0 && (
          <>
            <text x="0" y={height + 13} className="tick">
              {points[0]!.day}
            </text>
            <text x={width} y={height + 13} className="tick" textAnchor="end">
              {points[points.length - 1]!.day}
            </text>
          </>
        )}
      </svg>
    </figure>
  );
}

/** Calls and cost per day as two hand-drawn SVG bar charts, with the period's totals. */
export function UsageChart({ summary }: { summary: UsageSummary }) {
  const points = dailySeries(summary);
  const money = (v: number) => `${formatMicros(v)} ${summary.currency}`;
  return (
    <div className="usage">
      <p className="totals" data-testid="usage-totals">
        <span>
          <strong>{summary.totals.calls}</strong> calls
        </span>
        {summary.totals.testCalls > 0 && (
          <span className="muted">({summary.totals.testCalls} with test keys)</span>
        )}
        <span>
          <strong>
            {summary.totals.cost} {summary.currency}
          </strong>{' '}
          cost
        </span>
        <span className="muted">
          {summary.from.slice(0, 10)} → {summary.to.slice(0, 10)}
        </span>
      </p>
      <Bars
        points={points}
        value={(p) => p.calls}
        label="Calls per day"
        format={String}
        className="bar-calls"
      />
      <Bars
        points={points}
        value={(p) => p.costMicros}
        label="Cost per day"
        format={money}
        className="bar-cost"
      />
    </div>
  );
}
