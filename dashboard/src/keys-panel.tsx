import { useState } from 'react';
import { api, type ApiKey, type CreatedKey, type Page } from './api.ts';
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

/**
 * A client's keys, for the operator (`/admin/v1/clients/{id}/keys`) and for the client itself
 * (`/v1/keys`): list, create (shown once), revoke with a reason, roll; reactivate for operators.
 */
export function KeysPanel({
  base,
  canWrite,
  canReactivate,
  currentKeyId,
}: {
  /** `/admin/v1/clients/{id}/keys` or `/v1/keys` */
  base: string;
  canWrite: boolean;
  canReactivate: boolean;
  currentKeyId?: string | null;
}) {
  const keys = useLoad(() => api<Page<ApiKey>>('GET', `${base}?limit=200`), [base]);
  const k = useKeyActions(base, keys.reload);
  const { action, creating, setCreating, secret, setSecret } = k;

  return (
    <section className="panel">
      <div className="panel-head">
        <h2>Keys</h2>
        {canWrite && !creating && (
          <button type="button" onClick={() => setCreating(true)}>
            New key
          </button>
        )}
      </div>
      {secret && (
        <OneTimeSecret
          label={secret.label}
          secret={secret.value}
          onDismiss={() => setSecret(null)}
        />
      )}
      {creating && (
        <CreateKeyForm busy={action.busy} onCancel={() => setCreating(false)} onCreate={k.create} />
      )}
      <ErrorBox error={action.error ?? keys.error} />
      {keys.data && keys.data.data.length === 0 && <p className="muted">No keys.</p>}
      {keys.data && keys.data.data.length > 0 && (
        <KeysTable
          keys={keys.data.data}
          currentKeyId={currentKeyId}
          canWrite={canWrite}
          canReactivate={canReactivate}
          busy={action.busy}
          onRoll={k.setRolling}
          onRevoke={k.setRevoking}
          onReactivate={k.reactivate}
        />
      )}
      {k.revoking && (
        <RevokeKeyDialog
          k={k.revoking}
          busy={action.busy}
          reason={k.reason}
          onReason={k.setReason}
          onCancel={() => k.setRevoking(null)}
          onConfirm={() => k.revoke(k.revoking!)}
        />
      )}
      {k.rolling && (
        <RollKeyDialog
          k={k.rolling}
          busy={action.busy}
          graceHours={k.graceHours}
          onGraceHours={k.setGraceHours}
          onCancel={() => k.setRolling(null)}
          onConfirm={() => k.roll(k.rolling!)}
        />
      )}
    </section>
  );
}

/** What the panel does to keys, and the state of its dialogs. */
function useKeyActions(base: string, reload: () => void) {
  const action = useAction();
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [reason, setReason] = useState('');
  const [rolling, setRolling] = useState<ApiKey | null>(null);
  const [graceHours, setGraceHours] = useState('24');

  const done = (created: CreatedKey | undefined, label: string) => {
    if (!created) return;
    setSecret({ label, value: created.apiKey });
    reload();
  };

  const reactivate = async (k: ApiKey) => {
    await action.run(() => api('POST', `${base}/${k.id}/reactivate`));
    reload();
  };
  const revoke = async (k: ApiKey) => {
    setRevoking(null);
    await action.run(() => api('POST', `${base}/${k.id}/revoke`, reason ? { reason } : {}));
    setReason('');
    reload();
  };
  const roll = async (k: ApiKey) => {
    setRolling(null);
    const hours = Math.max(0, Math.floor(Number(graceHours) || 0));
    const created = await action.run(() =>
      api<CreatedKey>('POST', `${base}/${k.id}/roll`, {
        gracePeriodSeconds: hours * 3600,
      }),
    );
    done(created, `New key replacing ${k.start}…`);
  };

  const create = async (body: Record<string, unknown>) => {
    const created = await action.run(() => api<CreatedKey>('POST', base, body));
    if (created) setCreating(false);
    done(created, `New key ${created?.key.name ?? ''}`.trim());
  };
  return {
    action,
    secret,
    setSecret,
    creating,
    setCreating,
    revoking,
    setRevoking,
    reason,
    setReason,
    rolling,
    setRolling,
    graceHours,
    setGraceHours,
    reactivate,
    revoke,
    roll,
    create,
  };
}

interface DialogProps {
  k: ApiKey;
  busy: boolean;
  onCancel: () => void;
  onConfirm: () => void;
}

function RevokeKeyDialog(
  props: DialogProps & { reason: string; onReason: (reason: string) => void },
) {
  return (
    <ConfirmDialog
      title={`Revoke key ${props.k.start}…`}
      confirmLabel="Revoke"
      danger
      busy={props.busy}
      onCancel={props.onCancel}
      onConfirm={props.onConfirm}
    >
      <p>Calls with this key stop at once.</p>
      <label>
        Reason (kept in the audit log)
        <input
          value={props.reason}
          onChange={(e) => props.onReason(e.target.value)}
          maxLength={500}
        />
      </label>
    </ConfirmDialog>
  );
}

function RollKeyDialog(
  props: DialogProps & { graceHours: string; onGraceHours: (hours: string) => void },
) {
  return (
    <ConfirmDialog
      title={`Roll key ${props.k.start}…`}
      confirmLabel="Roll"
      busy={props.busy}
      onCancel={props.onCancel}
      onConfirm={props.onConfirm}
    >
      <p>A new key is issued now; the old one keeps working until the grace period ends.</p>
      <label>
        Grace period (hours, 0 = stop the old key now)
        <input
          type="number"
          min={0}
          value={props.graceHours}
          onChange={(e) => props.onGraceHours(e.target.value)}
        />
      </label>
    </ConfirmDialog>
  );
}

function KeysTable(props: {
  keys: ApiKey[];
  currentKeyId?: string | null;
  canWrite: boolean;
  canReactivate: boolean;
  busy: boolean;
  onRoll: (k: ApiKey) => void;
  onRevoke: (k: ApiKey) => void;
  onReactivate: (k: ApiKey) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>Key</th>
          <th>Name</th>
          <th>Env</th>
          <th>Scopes</th>
          <th>Status</th>
          <th>Expires</th>
          <th>Last used</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.keys.map((k) => (
          <tr key={k.id} data-testid={`key-${k.id}`}>
            <td>
              <code>{k.start}…</code>
              {k.legacy && (
                <>
                  {' '}
                  <span className="badge badge-legacy" title="imported by hash; roll to retire">
                    legacy
                  </span>
                </>
              )}
              {k.id === props.currentKeyId && <span className="muted"> (this session)</span>}
            </td>
            <td>{k.name ?? <span className="muted">—</span>}</td>
            <td>{k.environment}</td>
            <td>{k.scopes.join(', ') || <span className="muted">none</span>}</td>
            <td>
              <StatusBadge status={k.status} />
              {k.revokedReason && <div className="muted small">{k.revokedReason}</div>}
            </td>
            <td>
              <When at={k.expiresAt} />
            </td>
            <td>
              <When at={k.lastUsedAt} />
            </td>
            <td className="row-actions">
              <KeyActions k={k} {...props} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function KeyActions({
  k,
  canWrite,
  canReactivate,
  busy,
  onRoll,
  onRevoke,
  onReactivate,
}: Parameters<typeof KeysTable>[0] & { k: ApiKey }) {
  return (
    <>
      {canWrite && k.status === 'active' && (
        <>
          <button type="button" onClick={() => onRoll(k)}>
            Roll
          </button>
          <button type="button" className="danger" onClick={() => onRevoke(k)}>
            Revoke
          </button>
        </>
      )}
      {canReactivate && k.status === 'revoked' && (
        <button type="button" disabled={busy} onClick={() => onReactivate(k)}>
          Reactivate
        </button>
      )}
    </>
  );
}

function CreateKeyForm({
  busy,
  onCreate,
  onCancel,
}: {
  busy: boolean;
  onCreate: (body: Record<string, unknown>) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [environment, setEnvironment] = useState<'live' | 'test'>('live');
  const [scopes, setScopes] = useState('');
  const [days, setDays] = useState('');
  return (
    <form
      className="card form"
      onSubmit={(e) => {
        e.preventDefault();
        const body: Record<string, unknown> = { environment };
        if (name.trim()) body.name = name.trim();
        const list = scopes
          .split(/[,\s]+/)
          .map((s) => s.trim())
          .filter(Boolean);
        if (list.length) body.scopes = list;
        const d = Number(days);
        if (days && d > 0) body.expiresInSeconds = Math.round(d * 86_400);
        onCreate(body);
      }}
    >
      <h3>New key</h3>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />
      </label>
      <label>
        Environment
        <select
          value={environment}
          onChange={(e) => setEnvironment(e.target.value as 'live' | 'test')}
        >
          <option value="live">live</option>
          <option value="test">test (metered, never billed)</option>
        </select>
      </label>
      <label>
        Scopes (comma separated; empty = none)
        <input
          value={scopes}
          onChange={(e) => setScopes(e.target.value)}
          placeholder="keys:write, credentials:read"
        />
      </label>
      <label>
        Expires in (days; empty = never)
        <input
          type="number"
          min={0}
          step="any"
          value={days}
          onChange={(e) => setDays(e.target.value)}
        />
      </label>
      <FormActions submitLabel="Create key" disabled={busy} onCancel={onCancel} />
    </form>
  );
}
