import { useState } from 'react';
import { api } from './api.ts';
import { InvoicesPanel } from './invoices-panel.tsx';
import { ErrorBox, useAction } from './ui.tsx';

/** What POST /admin/v1/invoices/run answers. */
interface RunResult {
  period: string;
  kind: 'weekly' | 'monthly';
  periodStart: string;
  periodEnd: string;
  clients: number;
  created: number;
  existing: number;
  sent: number;
  sendFailed: number;
  durationMs: number;
}

/** The last day of a period that ends (exclusive) at `end`. */
const lastDay = (end: string) => new Date(Date.parse(end) - 1).toISOString().slice(0, 10);

/** Every client's invoices, and (with invoices:write) an invoice run for a period. */
export function InvoicesPage({ canWrite }: { canWrite: boolean }) {
  const [period, setPeriod] = useState('');
  const [send, setSend] = useState(false);
  const [result, setResult] = useState<(RunResult & { send: boolean }) | null>(null);
  const [runs, setRuns] = useState(0);
  const action = useAction();

  return (
    <div>
      <h1>Invoices</h1>
      {canWrite && (
        <form
          className="card form"
          aria-label="Invoice run"
          onSubmit={async (e) => {
            e.preventDefault();
            setResult(null);
            const body: Record<string, unknown> = { send };
            if (period.trim()) body.period = period.trim();
            const r = await action.run(() =>
              api<RunResult>('POST', '/admin/v1/invoices/run', body),
            );
            if (r) {
              setResult({ ...r, send });
              setRuns((n) => n + 1);
            }
          }}
        >
          <h3>Invoice run</h3>
          <p className="muted">
            Issues the invoices of a period for every client due one. Safe to repeat: a client
            already invoiced for the period is not invoiced again.
          </p>
          <label>
            Period (an ISO week like 2025-W40 or a month like 2025-10; empty: the last completed
            week)
            <input
              value={period}
              onChange={(e) => setPeriod(e.target.value)}
              pattern="\d{4}-(W\d{2}|\d{2})"
              maxLength={8}
            />
          </label>
          <label className="check">
            <input type="checkbox" checked={send} onChange={(e) => setSend(e.target.checked)} />{' '}
            Email every unsent invoice of the period
          </label>
          <ErrorBox error={action.error} />
          <div className="actions">
            <button type="submit" className="primary" disabled={action.busy}>
              Run invoicing
            </button>
          </div>
          {result && (
            <p role="status" data-testid="run-result">
              {result.period} ({result.periodStart.slice(0, 10)} to {lastDay(result.periodEnd)}
              ): {result.created} issued, {result.existing} already there, of {result.clients}{' '}
              clients due
              {result.send && `; ${result.sent} sent, ${result.sendFailed} failed`}.
            </p>
          )}
        </form>
      )}
      <InvoicesPanel key={runs} base="/admin/v1/invoices" canWrite={canWrite} />
    </div>
  );
}
