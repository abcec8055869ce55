import { useState } from 'react';
import { api, type PaymentDetails } from './api.ts';
import { PAYMENT_METHODS } from './lists.ts';
import { ErrorBox, FormActions, useAction, useLoad } from './ui.tsx';

const methodLabel = (m: string) => PAYMENT_METHODS.find(([v]) => v === m)?.[1] ?? m;

const whenEmptyLabel = (v: boolean | null) =>
  v === null ? 'as configured (default)' : v ? 'yes' : 'no';

/** A client's payment details for invoicing: shown, and edited with `clients:write`. */
export function BillingDetailsPanel({
  clientId,
  canWrite,
}: {
  clientId: string;
  canWrite: boolean;
}) {
  const base = `/admin/v1/clients/${clientId}/payment-details`;
  const details = useLoad(
    () => api<{ paymentDetails: PaymentDetails | null }>('GET', base),
    [base],
  );
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const d = details.data?.paymentDetails;

  return (
    <section className="panel" aria-label="Billing details">
      <div className="panel-head">
        <h2>Billing details</h2>
        {canWrite && details.data && !editing && (
          <button
            type="button"
            onClick={() => {
              setSaved(false);
              setEditing(true);
            }}
          >
            Edit billing details
          </button>
        )}
      </div>
      <ErrorBox error={details.error} />
      {saved && <p role="status">Billing details saved.</p>}
      {details.data && !editing && !d && (
        <p className="muted">
          Not set: weekly invoices, sent to the client’s email, in the default currency.
        </p>
      )}
      {d && !editing && (
        <dl className="details">
          <dt>Method</dt>
          <dd>{methodLabel(d.method)}</dd>
          <dt>Invoiced</dt>
          <dd>{d.frequency}</dd>
          <dt>Invoices sent to</dt>
          <dd>{d.billingEmail ?? 'the client’s email'}</dd>
          <dt>Currency</dt>
          <dd>{d.currency}</dd>
          <dt>Company</dt>
          <dd>
            {[d.company.name, d.company.address, d.company.vatId && `VAT ${d.company.vatId}`]
              .filter(Boolean)
              .join(' · ') || '—'}
          </dd>
          <dt>Invoice without usage</dt>
          <dd>{whenEmptyLabel(d.invoiceWhenEmpty)}</dd>
        </dl>
      )}
      {editing && details.data && (
        <BillingDetailsForm
          base={base}
          current={d ?? null}
          onCancel={() => setEditing(false)}
          onSaved={() => {
            setEditing(false);
            setSaved(true);
            details.reload();
          }}
        />
      )}
    </section>
  );
}

function BillingDetailsForm({
  base,
  current,
  onCancel,
  onSaved,
}: {
  base: string;
  current: PaymentDetails | null;
  onCancel: () => void;
  onSaved: () => void;
}) {
  const [method, setMethod] = useState<string>(current?.method ?? 'bank_transfer');
  const [frequency, setFrequency] = useState(current?.frequency ?? 'weekly');
  const [billingEmail, setBillingEmail] = useState(current?.billingEmail ?? '');
  const [currency, setCurrency] = useState(current?.currency ?? '');
  const [company, setCompany] = useState(current?.company.name ?? '');
  const [address, setAddress] = useState(current?.company.address ?? '');
  const [vatId, setVatId] = useState(current?.company.vatId ?? '');
  const [whenEmpty, setWhenEmpty] = useState(
    current?.invoiceWhenEmpty === null || current === null ? '' : String(current.invoiceWhenEmpty),
  );
  const action = useAction();
  const orNull = (v: string) => v.trim() || null;

  return (
    <form
      className="card form"
      onSubmit={async (e) => {
        e.preventDefault();
        const body: Record<string, unknown> = {
          method,
          frequency,
          billingEmail: orNull(billingEmail),
          company: { name: orNull(company), address: orNull(address), vatId: orNull(vatId) },
          invoiceWhenEmpty: whenEmpty === '' ? null : whenEmpty === 'true',
        };
        // Left empty, the currency stays what it is (the default for new details).
        if (currency.trim()) body.currency = currency.trim().toUpperCase();
        const r = await action.run(() =>
          api<{ paymentDetails: PaymentDetails }>('PUT', base, body),
        );
        if (r) onSaved();
      }}
    >
      <label>
        Payment method
        <select value={method} onChange={(e) => setMethod(e.target.value)}>
          {PAYMENT_METHODS.map(([v, l]) => (
            <option key={v} value={v}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <label>
        Invoiced
        <select
          value={frequency}
          onChange={(e) => setFrequency(e.target.value as 'weekly' | 'monthly')}
        >
          <option value="weekly">weekly</option>
          <option value="monthly">monthly</option>
        </select>
      </label>
      <label>
        Billing email (empty: the client’s email)
        <input
          type="email"
          value={billingEmail}
          onChange={(e) => setBillingEmail(e.target.value)}
          maxLength={320}
        />
      </label>
      <label>
        Currency (3 letters; empty: unchanged)
        <input
          value={currency}
          onChange={(e) => setCurrency(e.target.value)}
          pattern="[A-Za-z]{3}"
          maxLength={3}
        />
      </label>
      <label>
        Company name
        <input value={company} onChange={(e) => setCompany(e.target.value)} maxLength={200} />
      </label>
      <label>
        Company address
        <textarea value={address} onChange={(e) => setAddress(e.target.value)} maxLength={1000} />
      </label>
      <label>
        VAT ID
        <input value={vatId} onChange={(e) => setVatId(e.target.value)} maxLength={50} />
      </label>
      <label>
        Invoice without usage
        <select value={whenEmpty} onChange={(e) => setWhenEmpty(e.target.value)}>
          <option value="">as configured (default)</option>
          <option value="true">yes</option>
          <option value="false">no</option>
        </select>
      </label>
      <ErrorBox error={action.error} />
      <FormActions submitLabel="Save billing details" disabled={action.busy} onCancel={onCancel} />
    </form>
  );
}
