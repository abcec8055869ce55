import { useState } from 'react';
import { api, hasScope, type AdminToken, type Session } from './api.ts';
import { ADMIN_SCOPES } from './lists.ts';
import {
  ConfirmDialog,
  ErrorBox,
  FormActions,
  OneTimeSecret,
  StatusBadge,
  When,
  useAction,
  useLoad,
} from './ui.tsx';

/** Admin tokens (with `tokens:write`): list, create (the token shown once), revoke. */
export function AdminTokensPage({ session }: { session: Session }) {
  const list = useLoad(() => api<{ data: AdminToken[] }>('GET', '/admin/v1/admin-tokens'), []);
  const action = useAction();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<AdminToken | null>(null);

  return (
    <div>
      <div className="page-head">
        <h1>Admin tokens</h1>
        {!creating && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New admin token
          </button>
        )}
      </div>
      {created && (
        <OneTimeSecret
          label={`Admin token ${created.name}`}
          secret={created.token}
          onDismiss={() => setCreated(null)}
        />
      )}
      {creating && (
        <CreateTokenForm
          session={session}
          onCancel={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
            list.reload();
          }}
        />
      )}
      <ErrorBox error={action.error ?? list.error} />
      {list.data && <TokensTable tokens={list.data.data} onRevoke={setRevoking} />}
      {revoking && (
        <ConfirmDialog
          title={`Revoke ${revoking.name}`}
          confirmLabel="Revoke token"
          danger
          busy={action.busy}
          onCancel={() => setRevoking(null)}
          onConfirm={async () => {
            const t = revoking;
            setRevoking(null);
            await action.run(() => api('POST', `/admin/v1/admin-tokens/${t.id}/revoke`));
            list.reload();
          }}
        >
          <p>
            Every request with this token is refused from now on, dashboard sessions opened with it
            included. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function TokensTable({
  tokens,
  onRevoke,
}: {
  tokens: AdminToken[];
  onRevoke: (t: AdminToken) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>Name</th>
          <th>Token</th>
          <th>Scopes</th>
          <th>Status</th>
          <th>Created</th>
          <th>Last used</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr key={t.id} data-testid={`admin-token-${t.name}`}>
            <td>{t.name}</td>
            <td>
              <code>{t.start}…</code>
            </td>
            <td>{t.scopes.join(', ')}</td>
            <td>
              <StatusBadge status={t.status} />
            </td>
            <td>
              <When at={t.createdAt} /> <span className="muted">by {t.createdBy}</span>
            </td>
            <td>
              <When at={t.lastUsedAt} />
            </td>
            <td className="row-actions">
              {t.status === 'active' && (
                <button type="button" className="danger" onClick={() => onRevoke(t)}>
                  Revoke
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function CreateTokenForm({
  session,
  onCreated,
  onCancel,
}: {
  session: Session;
  onCreated: (c: { name: string; token: string }) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const action = useAction();
  const toggle = (s: string, on: boolean) =>
    setScopes((prev) => (on ? [...prev, s] : prev.filter((x) => x !== s)));

  return (
    <form
      className="card form"
      aria-label="New admin token"
      onSubmit={async (e) => {
        e.preventDefault();
        const r = await action.run(() =>
          api<{ adminToken: AdminToken; token: string }>('POST', '/admin/v1/admin-tokens', {
            name: name.trim(),
            scopes,
          }),
        );
        if (r) onCreated({ name: r.adminToken.name, token: r.token });
      }}
    >
      <h3>New admin token</h3>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
      </label>
      <fieldset className="scopes">
        <legend>Scopes (a token can grant only scopes its own session holds)</legend>
        {ADMIN_SCOPES.map((s) => (
          <label key={s} className="check">
            <input
              type="checkbox"
              checked={scopes.includes(s)}
              disabled={!hasScope(session.scopes, s)}
              onChange={(e) => toggle(s, e.target.checked)}
            />
            {s}
          </label>
        ))}
      </fieldset>
      <ErrorBox error={action.error} />
      <FormActions
        submitLabel="Create admin token"
        disabled={action.busy || !scopes.length}
        onCancel={onCancel}
      />
    </form>
  );
}
