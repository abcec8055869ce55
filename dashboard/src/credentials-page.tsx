import { useState } from 'react';
import { api, type Credential, type Page } from './api.ts';
import {
  ConfirmDialog,
  ErrorBox,
  FormActions,
  StatusBadge,
  When,
  useAction,
  useLoad,
} from './ui.tsx';

/** The secret fields each provider takes (SPEC §5); `multiline` ones are pasted JSON. */
export const PROVIDER_FIELDS: Record<
  string,
  {
    type: string;
    fields: Array<{ name: string; label: string; optional?: boolean; multiline?: boolean }>;
  }
> = {
  vultr: { type: 'api_key', fields: [{ name: 'apiKey', label: 'API key' }] },
  aws: {
    type: 'access_key',
    fields: [
      { name: 'accessKeyId', label: 'Access key id' },
      { name: 'secretAccessKey', label: 'Secret access key' },
      { name: 'region', label: 'Region', optional: true },
    ],
  },
  gcp: {
    type: 'service_account',
    fields: [{ name: 'serviceAccountJson', label: 'Service account JSON', multiline: true }],
  },
  azure: {
    type: 'oauth_client',
    fields: [
      { name: 'tenantId', label: 'Tenant id' },
      { name: 'clientId', label: 'Client id' },
      { name: 'clientSecret', label: 'Client secret' },
      { name: 'subscriptionId', label: 'Subscription id', optional: true },
    ],
  },
  gemini: { type: 'api_key', fields: [{ name: 'apiKey', label: 'API key' }] },
  openai: { type: 'api_key', fields: [{ name: 'apiKey', label: 'API key' }] },
  anthropic: { type: 'api_key', fields: [{ name: 'apiKey', label: 'API key' }] },
  exa: { type: 'api_key', fields: [{ name: 'apiKey', label: 'API key' }] },
  copilotkit: { type: 'api_key', fields: [{ name: 'apiKey', label: 'API key' }] },
  generic: { type: 'api_key', fields: [] },
};

/** Which fields are not secret and may be shown while typing. */
const PLAIN = new Set(['region', 'tenantId', 'clientId', 'subscriptionId', 'accessKeyId']);

/**
 * Seed 03's planned portal page: the client's cloud and AI provider credentials. Secrets are
 * write-only: the list shows metadata; the form's values are dropped once sent.
 */
export function CredentialsPage({
  canWrite,
  base = '/v1/credentials',
  title = 'Credentials',
  intro = 'Your provider keys, encrypted at rest. Keyplane never shows a stored secret again; you can verify it against the provider, replace it or delete it.',
}: {
  canWrite: boolean;
  /** Whose credentials: the client's own, or (operator) the platform's. */
  base?: '/v1/credentials' | '/admin/v1/credentials';
  title?: string;
  intro?: string;
}) {
  const list = useLoad(() => api<Page<Credential>>('GET', `${base}?limit=200`), [base]);
  const [adding, setAdding] = useState(false);
  const { action, deleting, setDeleting, notice, setNotice, verify, remove } = useCredentialActions(
    base,
    list.reload,
  );

  return (
    <div>
      <div className="page-head">
        <h1>{title}</h1>
        {canWrite && !adding && (
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            Add credential
          </button>
        )}
      </div>
      <p className="muted">{intro}</p>
      {adding && (
        <AddCredentialForm
          base={base}
          onCancel={() => setAdding(false)}
          onAdded={(c) => {
            setAdding(false);
            setNotice(`Stored ${c.name} (${c.provider}).`);
            list.reload();
          }}
        />
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={action.error ?? list.error} />
      {list.data && list.data.data.length === 0 && <p className="muted">No credentials yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <CredentialsTable
          credentials={list.data.data}
          canWrite={canWrite}
          busy={action.busy}
          onVerify={verify}
          onDelete={setDeleting}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.name}`}
          confirmLabel="Delete credential"
          danger
          busy={action.busy}
          onCancel={() => setDeleting(null)}
          onConfirm={() => remove(deleting)}
        >
          <p>The secret is destroyed (its data key is shredded); the audit trail stays.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}

/** Verify and delete, with the notice they leave and the credential being deleted. */
function useCredentialActions(base: string, reload: () => void) {
  const action = useAction();
  const [deleting, setDeleting] = useState<Credential | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const verify = async (c: Credential) => {
    setNotice(null);
    const r = await action.run(() =>
      api<Credential & { verification: { status: string; message: string } }>(
        'POST',
        `${base}/${c.id}/verify`,
      ),
    );
    if (r) setNotice(`${c.name}: ${r.verification.status} — ${r.verification.message}`);
    reload();
  };
  const remove = async (c: Credential) => {
    setDeleting(null);
    const r = await action.run(() => api('DELETE', `${base}/${c.id}`));
    if (r) setNotice(`Deleted ${c.name}.`);
    reload();
  };
  return { action, deleting, setDeleting, notice, setNotice, verify, remove };
}

function CredentialsTable({
  credentials,
  canWrite,
  busy,
  onVerify,
  onDelete,
}: {
  credentials: Credential[];
  canWrite: boolean;
  busy: boolean;
  onVerify: (c: Credential) => void;
  onDelete: (c: Credential) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>Name</th>
          <th>Provider</th>
          <th>Type / permissions</th>
          <th>Fields</th>
          <th>Verified</th>
          <th>Uses</th>
          <th>Last used</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {credentials.map((c) => (
          <tr key={c.id} data-testid={`credential-${c.name}`}>
            <td>
              {c.name} {!c.isActive && <StatusBadge status="inactive" />}
            </td>
            <td>{c.provider}</td>
            <td>
              {c.type} <span className="muted">{c.permissions}</span>
            </td>
            <td className="muted">{c.fields.join(', ')}</td>
            <td>
              {c.isVerified ? (
                <StatusBadge status="verified" />
              ) : (
                <StatusBadge status={c.verification?.status ?? 'unverified'} />
              )}
              {c.lastVerifiedAt && (
                <div className="small">
                  <When at={c.lastVerifiedAt} />
                </div>
              )}
            </td>
            <td className="num">{c.usageCount}</td>
            <td>
              <When at={c.lastUsedAt} />
            </td>
            <td className="row-actions">
              {canWrite && (
                <>
                  <button type="button" onClick={() => onVerify(c)} disabled={busy}>
                    Verify
                  </button>
                  <button type="button" className="danger" onClick={() => onDelete(c)}>
                    Delete
                  </button>
                </>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function AddCredentialForm({
  base,
  onAdded,
  onCancel,
}: {
  base: string;
  onAdded: (c: Credential) => void;
  onCancel: () => void;
}) {
  const [provider, setProvider] = useState('vultr');
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState('read_only');
  const [values, setValues] = useState<Record<string, string>>({});
  const [generic, setGeneric] = useState<Array<{ k: string; v: string }>>([{ k: '', v: '' }]);
  const action = useAction();
  const spec = PROVIDER_FIELDS[provider]!;

  return (
    <form
      className="card form"
      autoComplete="off"
      onSubmit={async (e) => {
        e.preventDefault();
        const created = await action.run(() =>
          api<Credential>('POST', base, {
            provider,
            credentialName: name.trim(),
            credentials: secretOf(provider, spec.fields, values, generic),
            credentialType: spec.type,
            permissions,
          }),
        );
        if (created) {
          // The secret leaves the page's memory with the form.
          setValues({});
          setGeneric([{ k: '', v: '' }]);
          onAdded(created);
        }
      }}
    >
      <h3>Add a credential</h3>
      <ProviderSelect
        value={provider}
        onChange={(p) => {
          setProvider(p);
          setValues({});
        }}
      />
      <label>
        Name
        <input
          value={name}
          onChange={(e) => setName(e.target.value)}
          required
          maxLength={200}
          placeholder="Production Vultr"
          aria-label="Credential name"
        />
      </label>
      <label>
        Permissions
        <select value={permissions} onChange={(e) => setPermissions(e.target.value)}>
          <option value="read_only">read_only (recommended)</option>
          <option value="read_write">read_write</option>
          <option value="admin">admin</option>
        </select>
      </label>
      <SecretFields provider={provider} fields={spec.fields} values={values} onValues={setValues} />
      {provider === 'generic' && <GenericFields fields={generic} onFields={setGeneric} />}
      <ErrorBox error={action.error} />
      <FormActions submitLabel="Store credential" disabled={action.busy} onCancel={onCancel} />
    </form>
  );
}

/** The secret as sent: the provider's fields (optional ones only when given), or the generic pairs. */
function secretOf(
  provider: string,
  fields: Field[],
  values: Record<string, string>,
  generic: Pair[],
): Record<string, string> {
  if (provider === 'generic') {
    return Object.fromEntries(generic.filter((f) => f.k.trim()).map((f) => [f.k.trim(), f.v]));
  }
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = values[f.name] ?? '';
    if (v || !f.optional) out[f.name] = v;
  }
  return out;
}

function ProviderSelect({ value, onChange }: { value: string; onChange: (p: string) => void }) {
  return (
    <label>
      Provider
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label="Provider">
        {Object.keys(PROVIDER_FIELDS).map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
    </label>
  );
}

type Field = (typeof PROVIDER_FIELDS)[string]['fields'][number];
type Pair = { k: string; v: string };

function SecretFields({
  provider,
  fields,
  values,
  onValues,
}: {
  provider: string;
  fields: Field[];
  values: Record<string, string>;
  onValues: (update: (v: Record<string, string>) => Record<string, string>) => void;
}) {
  return (
    <>
      {fields.map((f) => (
        <label key={`${provider}-${f.name}`}>
          {f.label}
          {f.optional && <span className="muted"> (optional)</span>}
          {f.multiline ? (
            <textarea
              value={values[f.name] ?? ''}
              onChange={(e) => onValues((v) => ({ ...v, [f.name]: e.target.value }))}
              required={!f.optional}
              rows={6}
              spellCheck={false}
              aria-label={f.label}
            />
          ) : (
            <input
              type={PLAIN.has(f.name) ? 'text' : 'password'}
              value={values[f.name] ?? ''}
              onChange={(e) => onValues((v) => ({ ...v, [f.name]: e.target.value }))}
              required={!f.optional}
              autoComplete="off"
              aria-label={f.label}
            />
          )}
        </label>
      ))}
    </>
  );
}

/** The generic provider's own field names and values. */
function GenericFields({
  fields,
  onFields,
}: {
  fields: Pair[];
  onFields: (update: (g: Pair[]) => Pair[]) => void;
}) {
  return (
    <>
      {fields.map((f, i) => (
        <div className="pair" key={i}>
          <input
            placeholder="field name"
            value={f.k}
            onChange={(e) =>
              onFields((g) => g.map((x, j) => (j === i ? { ...x, k: e.target.value } : x)))
            }
          />
          <input
            type="password"
            placeholder="value"
            value={f.v}
            onChange={(e) =>
              onFields((g) => g.map((x, j) => (j === i ? { ...x, v: e.target.value } : x)))
            }
          />
        </div>
      ))}
      <button type="button" onClick={() => onFields((g) => [...g, { k: '', v: '' }])}>
        Add field
      </button>
    </>
  );
}
