import { useState, type ReactNode } from 'react';
import { api, type ApiKey, type Budget, type Page } from './api.ts';
import { ConfirmDialog, ErrorBox, FormActions, When, useAction, useLoad } from './ui.tsx';

/** Micro-units as a decimal amount with 2 to 6 places, like the API's own `amount`. */
export function money(micros: number): string {
  const abs = Math.abs(micros);
  const frac = String(abs % 1_000_000)
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${micros < 0 ? '-' : ''}${Math.floor(abs / 1_000_000)}.${frac}`;
}

/** Budgets as a table: scope, amount, period, mode, spend so far, remaining, period's end. */
export function BudgetsTable({
  budgets,
  keyLabel,
  actions,
}: {
  budgets: Budget[];
  keyLabel: (keyId: string) => string;
  actions?: (b: Budget) => ReactNode;
}) {
  if (budgets.length === 0) return <p className="muted">No budgets.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th>Applies to</th>
          <th>Amount</th>
          <th>Period</th>
          <th>Mode</th>
          <th>Spent</th>
          <th>Remaining</th>
          <th>Period ends</th>
          {actions && <th />}
        </tr>
      </thead>
      <tbody>
        {budgets.map((b) => (
          <tr key={b.id} data-testid={`budget-${b.id}`}>
            <td>{b.keyId ? `key ${keyLabel(b.keyId)}` : 'all keys'}</td>
            <td className="num">
              {b.amount} {b.currency}
            </td>
            <td>{b.period}</td>
            <td>{b.mode}</td>
            <td className="num" data-testid="budget-spent">
              {b.current.spent}
            </td>
            <td className="num" data-testid="budget-remaining">
              {money(b.current.remainingMicros)}
            </td>
            <td>
              <When at={b.current.periodEnd} />
            </td>
            {actions && <td>{actions(b)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A client's budgets on its page: listed, added, changed (amount, mode) and deleted. */
export function BudgetsPanel({ clientId, canWrite }: { clientId: string; canWrite: boolean }) {
  const base = `/admin/v1/clients/${clientId}`;
  const list = useLoad(() => api<{ data: Budget[] }>('GET', `${base}/budgets`), [base]);
  const keys = useLoad(() => api<Page<ApiKey>>('GET', `${base}/keys?limit=200`), [base]);
  /** The form shown: a new budget's, or one budget's to change. */
  const [form, setForm] = useState<Budget | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Budget | null>(null);
  const action = useAction();
  const keyLabel = (id: string) => {
    const k = keys.data?.data.find((x) => x.id === id);
    return k ? `${k.start}…${k.name ? ` (${k.name})` : ''}` : id;
  };

  return (
    <section className="panel" aria-label="Budgets">
      <div className="panel-head">
        <h2>Budgets</h2>
        <div className="row-actions">
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
          {canWrite && !form && (
            <button type="button" onClick={() => setForm('new')}>
              Add budget
            </button>
          )}
        </div>
      </div>
      <ErrorBox error={list.error ?? action.error} />
      {form && (
        <BudgetForm
          key={form === 'new' ? 'new' : form.id}
          base={base}
          current={form === 'new' ? undefined : form}
          keys={(keys.data?.data ?? []).filter((k) => k.status === 'active')}
          onCancel={() => setForm(null)}
          onSaved={() => {
            setForm(null);
            list.reload();
          }}
        />
      )}
      {list.data && (
        <BudgetsTable
          budgets={list.data.data}
          keyLabel={keyLabel}
          actions={
            canWrite
              ? (b) => (
                  <div className="row-actions">
                    <button type="button" onClick={() => setForm(b)}>
                      Change
                    </button>
                    <button type="button" className="danger" onClick={() => setDeleting(b)}>
                      Delete
                    </button>
                  </div>
                )
              : undefined
          }
        />
      )}
      {deleting && (
        <DeleteBudgetDialog
          budget={deleting}
          busy={action.busy}
          onCancel={() => setDeleting(null)}
          onConfirm={async () => {
            setDeleting(null);
            await action.run(() => api<void>('DELETE', `${base}/budgets/${deleting.id}`));
            list.reload();
          }}
        />
      )}
    </section>
  );
}

function DeleteBudgetDialog({
  budget: b,
  busy,
  onConfirm,
  onCancel,
}: {
  budget: Budget;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <ConfirmDialog
      title="Delete budget"
      confirmLabel="Delete budget"
      danger
      busy={busy}
      onCancel={onCancel}
      onConfirm={onConfirm}
    >
      <p>
        The {b.period} {b.mode} budget of {b.amount} {b.currency} is removed with its spend and
        alerts; calls are no longer held to it.
      </p>
    </ConfirmDialog>
  );
}

/** Creates a budget (on the client or one key) or changes one: amount, mode, thresholds. */
function saveBudget(
  base: string,
  current: Budget | undefined,
  f: { amount: string; period: string; mode: string; keyId: string; thresholds: string },
) {
  const body: Record<string, unknown> = {
    amount: f.amount.trim(),
    mode: f.mode,
    thresholds: f.thresholds
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean)
      .map(Number),
  };
  if (!current) body.period = f.period;
  const path = current
    ? `${base}/budgets/${current.id}`
    : f.keyId
      ? `${base}/keys/${f.keyId}/budgets`
      : `${base}/budgets`;
  return api<{ budget: Budget }>(current ? 'PATCH' : 'POST', path, body);
}

function PeriodField({ value, onChange }: { value: string; onChange: (p: string) => void }) {
  return (
    <label>
      Period
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="day">day</option>
        <option value="week">week (ISO)</option>
        <option value="month">month</option>
        <option value="billing">billing period</option>
      </select>
    </label>
  );
}

function KeyField({
  keys,
  value,
  onChange,
}: {
  keys: ApiKey[];
  value: string;
  onChange: (keyId: string) => void;
}) {
  return (
    <label>
      Key
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">all keys (the whole client)</option>
        {keys.map((k) => (
          <option key={k.id} value={k.id}>
            {k.start}…{k.name ? ` (${k.name})` : ''}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Adds a budget (no `current`) or changes one's amount and mode. */
function BudgetForm({
  base,
  current,
  keys = [],
  onCancel,
  onSaved,
}: {
  base: string;
  current?: Budget;
  keys?: ApiKey[];
  onCancel: () => void;
  onSaved: () => void;
}) {
  const [amount, setAmount] = useState(current?.amount ?? '');
  const [period, setPeriod] = useState<string>(current?.period ?? 'month');
  const [mode, setMode] = useState<string>(current?.mode ?? 'hard');
  const [keyId, setKeyId] = useState('');
  const [thresholds, setThresholds] = useState(current?.thresholds.join(', ') ?? '50, 80, 100');
  const action = useAction();
  const title = current ? 'Change budget' : 'Add budget';

  return (
    <form
      className="card form"
      aria-label={title}
      onSubmit={async (e) => {
        e.preventDefault();
        const fields = { amount, period, mode, keyId, thresholds };
        const r = await action.run(() => saveBudget(base, current, fields));
        if (r) onSaved();
      }}
    >
      <h3>{title}</h3>
      <label>
        Amount
        <input
          value={amount}
          onChange={(e) => setAmount(e.target.value)}
          required
          inputMode="decimal"
          pattern="\d+(\.\d{1,6})?"
          maxLength={40}
        />
      </label>
      {!current && <PeriodField value={period} onChange={setPeriod} />}
      <label>
        Mode
        <select value={mode} onChange={(e) => setMode(e.target.value)}>
          <option value="hard">hard (refuse calls past it)</option>
          <option value="soft">soft (alert only)</option>
        </select>
      </label>
      {!current && <KeyField keys={keys} value={keyId} onChange={setKeyId} />}
      <label>
        Alert thresholds (%)
        <input
          value={thresholds}
          onChange={(e) => setThresholds(e.target.value)}
          pattern="\s*\d+(\s*,\s*\d+)*\s*"
          maxLength={60}
        />
      </label>
      <ErrorBox error={action.error} />
      <FormActions
        submitLabel={current ? 'Save budget' : 'Create budget'}
        disabled={action.busy}
        onCancel={onCancel}
      />
    </form>
  );
}
