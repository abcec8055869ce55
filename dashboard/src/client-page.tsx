import { useState } from 'react';
import {
  api,
  hasScope,
  qs,
  type ApiKey,
  type Client,
  type Session,
  type UsageSummary,
} from './api.ts';
import { AuditPanel } from './audit-panel.tsx';
import { BillingDetailsPanel } from './billing-details-panel.tsx';
import { BudgetsPanel } from './budgets-panel.tsx';
import { ClientEditForm } from './client-edit-form.tsx';
import { InvoicesPanel } from './invoices-panel.tsx';
import { KeysPanel } from './keys-panel.tsx';
import { navigate } from './router.ts';
import { ConfirmDialog, ErrorBox, StatusBadge, When, useAction, useLoad } from './ui.tsx';
import { UsageChart } from './usage-chart.tsx';

type Verb = 'suspend' | 'reactivate' | 'delete';

/** One client: details, lifecycle, keys, usage, invoices and its audit trail. */
export function ClientPage({ session, id }: { session: Session; id: string }) {
  const detail = useLoad(
    () => api<{ client: Client; keys?: ApiKey[] }>('GET', `/admin/v1/clients/${id}`),
    [id],
  );
  const action = useAction();
  const [confirm, setConfirm] = useState<'suspend' | 'delete' | null>(null);
  const [reason, setReason] = useState('');
  const [editing, setEditing] = useState(false);
  const client = detail.data?.client;

  const lifecycle = async (verb: Verb) => {
    setConfirm(null);
    const r = await action.run(() =>
      verb === 'delete'
        ? api<{ client: Client }>('DELETE', `/admin/v1/clients/${id}`)
        : api<{ client: Client }>(
            'POST',
            `/admin/v1/clients/${id}/${verb}`,
            verb === 'suspend' && reason ? { reason } : undefined,
          ),
    );
    setReason('');
    if (r) detail.reload();
  };

  return (
    <div>
      <p>
        <a
          href="/clients"
          onClick={(e) => {
            e.preventDefault();
            navigate('/clients');
          }}
        >
          ← Clients
        </a>
      </p>
      <ErrorBox error={detail.error} />
      {client && (
        <>
          <ClientHead
            client={client}
            scopes={session.scopes}
            editing={editing}
            busy={action.busy}
            onEdit={() => setEditing(true)}
            onConfirm={setConfirm}
            onReactivate={() => lifecycle('reactivate')}
          />
          <ErrorBox error={action.error} />
          {editing && (
            <ClientEditForm
              client={client}
              onCancel={() => setEditing(false)}
              onSaved={() => {
                setEditing(false);
                detail.reload();
              }}
            />
          )}
          <ClientDetails client={client} />
          <ClientPanels client={client} scopes={session.scopes} />
        </>
      )}
      {client && (
        <LifecycleDialogs
          client={client}
          confirm={confirm}
          busy={action.busy}
          reason={reason}
          onReason={setReason}
          onCancel={() => setConfirm(null)}
          onConfirm={lifecycle}
        />
      )}
    </div>
  );
}

function ClientHead(props: {
  client: Client;
  scopes: string[];
  editing: boolean;
  busy: boolean;
  onEdit: () => void;
  onConfirm: (verb: 'suspend' | 'delete') => void;
  onReactivate: () => void;
}) {
  const { client } = props;
  return (
    <div className="page-head">
      <h1>
        {client.name} <StatusBadge status={client.status} />
      </h1>
      {hasScope(props.scopes, 'clients:write') && client.status !== 'deleted' && (
        <div className="row-actions">
          {!props.editing && (
            <button type="button" onClick={props.onEdit}>
              Edit
            </button>
          )}
          {client.status === 'active' && (
            <button type="button" onClick={() => props.onConfirm('suspend')}>
              Suspend
            </button>
          )}
          {client.status === 'suspended' && (
            <button type="button" onClick={props.onReactivate} disabled={props.busy}>
              Reactivate
            </button>
          )}
          <button type="button" className="danger" onClick={() => props.onConfirm('delete')}>
            Delete
          </button>
        </div>
      )}
    </div>
  );
}

function ClientDetails({ client }: { client: Client }) {
  return (
    <dl className="details">
      <dt>Id</dt>
      <dd>
        <code>{client.id}</code>
      </dd>
      <dt>Email</dt>
      <dd>{client.email ?? '—'}</dd>
      <dt>Tier</dt>
      <dd>{client.tier}</dd>
      <dt>Default rate limit</dt>
      <dd>
        {client.defaultRateLimit
          ? `${client.defaultRateLimit.limit} / ${client.defaultRateLimit.windowSeconds}s`
          : 'none'}
      </dd>
      <dt>Created</dt>
      <dd>
        <When at={client.createdAt} />
      </dd>
      {client.suspendedAt && (
        <>
          <dt>Suspended</dt>
          <dd>
            <When at={client.suspendedAt} />
          </dd>
        </>
      )}
      {client.deletedAt && (
        <>
          <dt>Deleted</dt>
          <dd>
            <When at={client.deletedAt} />
          </dd>
        </>
      )}
    </dl>
  );
}

/** The client's panels, each shown when the session's scopes allow it. */
function ClientPanels({ client, scopes: s }: { client: Client; scopes: string[] }) {
  const live = client.status !== 'deleted';
  return (
    <>
      {hasScope(s, 'keys:read') && live && (
        <KeysPanel
          key={`${client.id}-${client.status}`}
          base={`/admin/v1/clients/${client.id}/keys`}
          canWrite={hasScope(s, 'keys:write') && client.status === 'active'}
          canReactivate={hasScope(s, 'keys:write')}
        />
      )}
      {hasScope(s, 'clients:read') && live && (
        <BillingDetailsPanel clientId={client.id} canWrite={hasScope(s, 'clients:write')} />
      )}
      {hasScope(s, 'clients:read') && hasScope(s, 'keys:read') && live && (
        <BudgetsPanel clientId={client.id} canWrite={hasScope(s, 'clients:write')} />
      )}
      {hasScope(s, 'usage:read') && <ClientUsage clientId={client.id} />}
      {hasScope(s, 'invoices:read') && (
        <InvoicesPanel
          base="/admin/v1/invoices"
          clientId={client.id}
          canWrite={hasScope(s, 'invoices:write')}
        />
      )}
      {hasScope(s, 'audit:read') && <AuditPanel clientId={client.id} />}
    </>
  );
}

function LifecycleDialogs(props: {
  client: Client;
  confirm: 'suspend' | 'delete' | null;
  busy: boolean;
  reason: string;
  onReason: (reason: string) => void;
  onCancel: () => void;
  onConfirm: (verb: Verb) => void;
}) {
  const { client } = props;
  if (props.confirm === 'suspend')
    return (
      <ConfirmDialog
        title={`Suspend ${client.name}`}
        confirmLabel="Suspend"
        busy={props.busy}
        onCancel={props.onCancel}
        onConfirm={() => props.onConfirm('suspend')}
      >
        <p>All of this client’s keys stop at once. You can reactivate the client later.</p>
        <label>
          Reason (optional)
          <input
            value={props.reason}
            onChange={(e) => props.onReason(e.target.value)}
            maxLength={500}
          />
        </label>
      </ConfirmDialog>
    );
  if (props.confirm === 'delete')
    return (
      <ConfirmDialog
        title={`Delete ${client.name} permanently`}
        confirmLabel="Delete forever"
        confirmText={client.name}
        danger
        busy={props.busy}
        onCancel={props.onCancel}
        onConfirm={() => props.onConfirm('delete')}
      >
        <p>
          Keys and credentials are destroyed and personal data is scrubbed. Invoices and usage stay
          for accounting. This cannot be undone.
        </p>
      </ConfirmDialog>
    );
  return null;
}

function ClientUsage({ clientId }: { clientId: string }) {
  const usage = useLoad(
    () => api<UsageSummary>('GET', `/admin/v1/usage${qs({ clientId, groupBy: 'day' })}`),
    [clientId],
  );
  return (
    <section className="panel">
      <div className="panel-head">
        <h2>Usage, last 30 days</h2>
        <button type="button" onClick={usage.reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={usage.error} />
      {usage.data && <UsageChart summary={usage.data} />}
    </section>
  );
}
