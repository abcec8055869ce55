import { useRef } from 'react';
import { api, qs, type Client, type UsageGroup, type UsageSummary } from './api.ts';
import { navigate } from './router.ts';
import { ErrorBox, useLoad } from './ui.tsx';
import { UsageChart } from './usage-chart.tsx';
import { formatMicros } from './usage-fns.ts';

/** Clients listed by name on the usage page; the rest are counted. */
const SHOWN = 50;

interface ClientRow extends UsageGroup {
  /** null when the client cannot be read (deleted since, or not visible): its id is shown. */
  name: string | null;
}

/** Every client's usage of the last 30 days: calls and cost per day, and the clients by cost. */
export function UsagePage() {
  /** Client names already fetched: a refresh asks only for clients new to the page. */
  const names = useRef(new Map<string, string | null>());
  const usage = useLoad(() => loadUsage(names.current), []);
  const data = usage.data;

  return (
    <div>
      <div className="page-head">
        <h1>Usage</h1>
        <button type="button" onClick={usage.reload} disabled={usage.loading}>
          Refresh
        </button>
      </div>
      <ErrorBox error={usage.error} />
      {data && (
        <>
          <section className="panel">
            <h2>All clients, last 30 days</h2>
            <UsageChart summary={data.byDay} />
          </section>
          <section className="panel" aria-label="Usage by client">
            <h2>By client</h2>
            <ClientsByCost rows={data.rows} currency={data.byDay.currency} />
            {data.rows.length === 0 && <p className="muted">No calls in this period.</p>}
            {data.more > 0 && (
              <p className="muted">
                and {data.more} more clients with less cost (the admin API&apos;s{' '}
                <code>GET /admin/v1/usage?groupBy=client</code> lists them all)
              </p>
            )}
          </section>
        </>
      )}
    </div>
  );
}

/**
 * The day series and the clients by cost (the first SHOWN, named; names already in `known`
 * are not asked for again), with how many more there are.
 */
async function loadUsage(known: Map<string, string | null>) {
  const [byDay, byClient] = await Promise.all([
    api<UsageSummary>('GET', `/admin/v1/usage${qs({ groupBy: 'day' })}`),
    api<UsageSummary>('GET', `/admin/v1/usage${qs({ groupBy: 'client' })}`),
  ]);
  const top = [...byClient.groups]
    .sort((a, b) => b.costMicros - a.costMicros || b.calls - a.calls)
    .slice(0, SHOWN);
  // Names for the rows shown that are not known yet, one request each in parallel.
  await Promise.all(
    top
      .filter((g) => !known.has(g.group))
      .map((g) =>
        api<{ client: Client }>('GET', `/admin/v1/clients/${encodeURIComponent(g.group)}`).then(
          (r) => known.set(g.group, r.client.name),
          () => known.set(g.group, null),
        ),
      ),
  );
  const rows: ClientRow[] = top.map((g) => ({ ...g, name: known.get(g.group) ?? null }));
  return { byDay, rows, more: byClient.groups.length - rows.length };
}

function ClientsByCost({ rows, currency }: { rows: ClientRow[]; currency: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th>Client</th>
          <th className="num">Calls</th>
          <th className="num">With test keys</th>
          <th className="num">Cost ({currency})</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.group}>
            <td>
              <a
                href={`/clients/${r.group}`}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(`/clients/${r.group}`);
                }}
              >
                {r.name ?? r.group}
              </a>
            </td>
            <td className="num">{r.calls}</td>
            <td className="num">{r.testCalls}</td>
            <td className="num">{formatMicros(r.costMicros)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
