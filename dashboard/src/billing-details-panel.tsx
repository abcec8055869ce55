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

/** The form's fields as typed (strings; empty means null or "as configured"). */
interface DetailsForm {
  method: string;
  frequency: 'weekly' | 'monthly';
  billingEmail: string;
  currency: string;
  company: string;
  address: string;
  vatId: string;
  whenEmpty: string;
}
type SetField = <K extends keyof DetailsForm>(key: K, value: DetailsForm[K]) => void;

function formOf(current: PaymentDetails | null): DetailsForm {
  return {
    method: current?.method ?? 'bank_transfer',
    frequency: current?.frequency ?? 'weekly',
    billingEmail: current?.billingEmail ?? '',
    currency: current?.currency ?? '',
    company: current?.company.name ?? '',
    address: current?.company.address ?? '',
    vatId: current?.company.vatId ?? '',
    whenEmpty:
      current?.invoiceWhenEmpty === null || current === null
        ? ''
        : String(current.invoiceWhenEmpty),
  };
}

function bodyOf(f: DetailsForm): Record<string, unknown> {
  const orNull = (v: string) => v.trim() || null;
  const body: Record<string, unknown> = {
    method: f.method,
    frequency: f.frequency,
    billingEmail: orNull(f.billingEmail),
    company: { name: orNull(f.company), address: orNull(f.address), vatId: orNull(f.vatId) },
    invoiceWhenEmpty: f.whenEmpty === '' ? null : f.whenEmpty === 'true',
  };
  // Left empty, the currency stays what it is (the default for new details).
  if (f.currency.trim()) body.currency = f.currency.trim().toUpperCase();
  return body;
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
  const [form, setForm] = useState(() => formOf(current));
  const set: SetField = (key, value) => setForm((f) => ({ ...f, [key]: value }));
  const action = useAction();

  return (
    <form
      className="card form"
      onSubmit={async (e) => {
        e.preventDefault();
        const r = await action.run(() =>
          api<{ paymentDetails: PaymentDetails }>('PUT', base, bodyOf(form)),
        );
        if (r) onSaved();
      }}
    >
      <InvoicingFields form={form} set={set} />
      <CompanyFields form={form} set={set} />
      <label>
        Invoice without usage
        <select value={form.whenEmpty} onChange={(e) => set('whenEmpty', e.target.value)}>
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

function InvoicingFields({ form, set }: { form: DetailsForm; set: SetField }) {
  return (
    <>
      <label>
        Payment method
        <select value={form.method} onChange={(e) => set('method', e.target.value)}>
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
          value={form.frequency}
          onChange={(e) => set('frequency', e.target.value as 'weekly' | 'monthly')}
        >
          <option value="weekly">weekly</option>
          <option value="monthly">monthly</option>
        </select>
      </label>
      <label>
        Billing email (empty: the client’s email)
        <input
          type="email"
          value={form.billingEmail}
          onChange={(e) => set('billingEmail', e.target.value)}
          maxLength={320}
        />
      </label>
      <label>
        Currency (3 letters; empty: unchanged)
        <input
          value={form.currency}
          onChange={(e) => set('currency', e.target.value)}
          pattern="[A-Za-z]{3}"
          maxLength={3}
        />
      </label>
    </>
  );
}

function CompanyFields({ form, set }: { form: DetailsForm; set: SetField }) {
  return (
    <>
      <label>
        Company name
        <input
          value={form.company}
          onChange={(e) => set('company', e.target.value)}
          maxLength={200}
        />
      </label>
      <label>
        Company address
        <textarea
          value={form.address}
          onChange={(e) => set('address', e.target.value)}
          maxLength={1000}
        />
      </label>
      <label>
        VAT ID
        <input value={form.vatId} onChange={(e) => set('vatId', e.target.value)} maxLength={50} />
      </label>
    </>
  );
}
