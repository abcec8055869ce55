import { useEffect, useRef, useState } from 'react';
import {
  api,
  hasScope,
  qs,
  type ApiKey,
  type AuditEntry,
  type Client,
  type Page,
  type Session,
  type UsageSummary,
} from './api.ts';
import { BillingDetailsPanel } from './billing-details-panel.tsx';
import { BudgetsPanel } from './budgets-panel.tsx';
import { ClientEditForm } from './client-edit-form.tsx';
import { InvoicesPanel } from './invoices-panel.tsx';
import { KeysPanel } from './keys-panel.tsx';
import { LegacyKeysNotice } from './legacy-keys-notice.tsx';
import { navigate } from './router.ts';
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
import { UsageChart } from './usage-chart.tsx';

type KeyCounts = Record<string, { active: number; total: number } | null>;

/** The operator's list of clients: search, status filter, key counts, create. */
export function ClientsPage({ session }: { session: Session }) {
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  /** `search` once typing paused: the server searches every client, not just a loaded page. */
  const [query, setQuery] = useState('');
  const [clients, setClients] = useState<Client[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [counts, setCounts] = useState<KeyCounts>({});
  const load = useAction();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ client: Client; apiKey: string } | null>(null);
  const canWrite = hasScope(session.scopes, 'clients:write');
  const canKeys = hasScope(session.scopes, 'keys:read');

  /** The latest list request: an answer to an older one (an earlier search) is dropped. */
  const latest = useRef(0);
  const fetchPage = async (cursor: string | null) => {
    const mine = ++latest.current;
    // With keys:read, each client comes with its keys (one request for the page).
    const page = await load.run(() =>
      api<Page<Client & { keys?: ApiKey[] }>>(
        'GET',
        `/admin/v1/clients${qs({ limit: 100, status, q: query || undefined, cursor, include: canKeys ? 'keys' : undefined })}`,
      ),
    );
    if (!page || mine !== latest.current) return;
    setClients((prev) => (cursor ? [...prev, ...page.data] : page.data));
    setNext(page.nextCursor);
    if (!canKeys) return;
    setCounts((m) => {
      const out = { ...m };
      for (const c of page.data) {
        const keys = c.keys ?? [];
        out[c.id] = {
          active: keys.filter((x) => x.status === 'active').length,
          total: keys.length,
        };
      }
      return out;
    });
  };

  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250);
    return () => clearTimeout(t);
  }, [search]);

  useEffect(() => {
    void fetchPage(null);
  }, [status, query]);

  return (
    <div>
      <div className="page-head">
        <h1>Clients</h1>
        {canWrite && !creating && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New client
          </button>
        )}
      </div>
      {created && (
        <OneTimeSecret
          label={`API key of ${created.client.name}`}
          secret={created.apiKey}
          onDismiss={() => setCreated(null)}
        />
      )}
      {creating && (
        <CreateClientForm
          onCancel={() => setCreating(false)}
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
            void fetchPage(null);
          }}
        />
      )}
      {canKeys && <LegacyKeysNotice />}
      <div className="toolbar">
        <input
          type="search"
          placeholder="Search name, email, id, tier"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          aria-label="Search clients"
        />
        <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="Status">
          <option value="">all statuses</option>
          <option value="active">active</option>
          <option value="suspended">suspended</option>
          <option value="deleted">deleted</option>
        </select>
      </div>
      <ErrorBox error={load.error} />
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Email</th>
            <th>Tier</th>
            <th>Status</th>
            <th>Keys (active / all)</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {clients.map((c) => {
            const k = counts[c.id];
            return (
              <tr key={c.id} className="clickable" onClick={() => navigate(`/clients/${c.id}`)}>
                <td>
                  <a
                    href={`/clients/${c.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/clients/${c.id}`);
                    }}
                  >
                    {c.name}
                  </a>
                </td>
                <td>{c.email ?? <span className="muted">—</span>}</td>
                <td>{c.tier}</td>
                <td>
                  <StatusBadge status={c.status} />
                </td>
                <td className="num">{k ? `${k.active} / ${k.total}` : '…'}</td>
                <td>
                  <When at={c.createdAt} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {!load.busy && clients.length === 0 && <p className="muted">No clients match.</p>}
      {next && (
        <div className="pager">
          <button type="button" onClick={() => void fetchPage(next)} disabled={load.busy}>
            Load more
          </button>
        </div>
      )}
    </div>
  );
}

function CreateClientForm({
  onCreated,
  onCancel,
}: {
  onCreated: (c: { client: Client; apiKey: string }) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [tier, setTier] = useState('');
  const [environment, setEnvironment] = useState('live');
  const action = useAction();
  return (
    <form
      className="card form"
      onSubmit={async (e) => {
        e.preventDefault();
        const body: Record<string, unknown> = {
          name: name.trim(),
          email: email.trim(),
          environment,
        };
        if (tier.trim()) body.tier = tier.trim();
        const r = await action.run(() =>
          api<{ client: Client; apiKey: string }>('POST', '/admin/v1/clients', body),
        );
        if (r) onCreated({ client: r.client, apiKey: r.apiKey });
      }}
    >
      <h3>New client</h3>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} />
      </label>
      <label>
        Email
        <input
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          required
          maxLength={320}
        />
      </label>
      <label>
        Tier (optional)
        <input value={tier} onChange={(e) => setTier(e.target.value)} maxLength={32} />
      </label>
      <label>
        First key environment
        <select value={environment} onChange={(e) => setEnvironment(e.target.value)}>
          <option value="live">live</option>
          <option value="test">test</option>
        </select>
      </label>
      <ErrorBox error={action.error} />
      <FormActions submitLabel="Create client" disabled={action.busy} onCancel={onCancel} />
    </form>
  );
}

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
  const s = session.scopes;
  const client = detail.data?.client;

  const lifecycle = async (verb: 'suspend' | 'reactivate' | 'delete') => {
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
          <div className="page-head">
            <h1>
              {client.name} <StatusBadge status={client.status} />
            </h1>
            {hasScope(s, 'clients:write') && client.status !== 'deleted' && (
              <div className="row-actions">
                {!editing && (
                  <button type="button" onClick={() => setEditing(true)}>
                    Edit
                  </button>
                )}
                {client.status === 'active' && (
                  <button type="button" onClick={() => setConfirm('suspend')}>
                    Suspend
                  </button>
                )}
                {client.status === 'suspended' && (
                  <button
                    type="button"
                    onClick={() => lifecycle('reactivate')}
                    disabled={action.busy}
                  >
                    Reactivate
                  </button>
                )}
                <button type="button" className="danger" onClick={() => setConfirm('delete')}>
                  Delete
                </button>
              </div>
            )}
          </div>
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
          {hasScope(s, 'keys:read') && client.status !== 'deleted' && (
            <KeysPanel
              key={`${client.id}-${client.status}`}
              base={`/admin/v1/clients/${client.id}/keys`}
              canWrite={hasScope(s, 'keys:write') && client.status === 'active'}
              canReactivate={hasScope(s, 'keys:write')}
            />
          )}
          {hasScope(s, 'clients:read') && client.status !== 'deleted' && (
            <BillingDetailsPanel clientId={client.id} canWrite={hasScope(s, 'clients:write')} />
          )}
          {hasScope(s, 'clients:read') &&
            hasScope(s, 'keys:read') &&
            client.status !== 'deleted' && (
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
      )}
      {confirm === 'suspend' && client && (
        <ConfirmDialog
          title={`Suspend ${client.name}`}
          confirmLabel="Suspend"
          busy={action.busy}
          onCancel={() => setConfirm(null)}
          onConfirm={() => lifecycle('suspend')}
        >
          <p>All of this client’s keys stop at once. You can reactivate the client later.</p>
          <label>
            Reason (optional)
            <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} />
          </label>
        </ConfirmDialog>
      )}
      {confirm === 'delete' && client && (
        <ConfirmDialog
          title={`Delete ${client.name} permanently`}
          confirmLabel="Delete forever"
          confirmText={client.name}
          danger
          busy={action.busy}
          onCancel={() => setConfirm(null)}
          onConfirm={() => lifecycle('delete')}
        >
          <p>
            Keys and credentials are destroyed and personal data is scrubbed. Invoices and usage
            stay for accounting. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
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

/** The audit log, newest first, filtered by client and action, a page at a time. */
export function AuditPanel({ clientId }: { clientId?: string }) {
  const [action, setAction] = useState('');
  const [applied, setApplied] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () =>
      api<Page<AuditEntry>>(
        'GET',
        `/admin/v1/audit${qs({ clientId, action: applied, limit: 50, cursor })}`,
      ),
    [clientId, applied, cursor],
  );
  return (
    <section className="panel">
      <div className="panel-head">
        <h2>Audit log</h2>
      </div>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([]);
          setApplied(action.trim());
        }}
      >
        <input
          placeholder="action, e.g. client.suspend"
          value={action}
          onChange={(e) => setAction(e.target.value)}
          aria-label="Filter by action"
        />
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={list.error} />
      {list.data && (
        <table className="small">
          <thead>
            <tr>
              <th>#</th>
              <th>When</th>
              <th>Action</th>
              <th>Actor</th>
              <th>Target</th>
              {!clientId && <th>Client</th>}
              <th>IP</th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((a) => (
              <tr key={a.id}>
                <td className="num">{a.seq}</td>
                <td>
                  <When at={a.createdAt} />
                </td>
                <td>
                  <code>{a.action}</code>
                </td>
                <td>
                  {a.actorType} <span className="muted">{a.actorId}</span>
                </td>
                <td>
                  {a.targetType} <span className="muted">{a.targetId ?? ''}</span>
                </td>
                {!clientId && <td className="muted">{a.clientId ?? ''}</td>}
                <td className="muted">{a.ip ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data && list.data.data.length === 0 && <p className="muted">No entries.</p>}
      <div className="pager">
        {cursors.length > 0 && (
          <button type="button" onClick={() => setCursors((c) => c.slice(0, -1))}>
            Newer
          </button>
        )}
        {list.data?.nextCursor && (
          <button type="button" onClick={() => setCursors((c) => [...c, list.data!.nextCursor!])}>
            Older
          </button>
        )}
      </div>
    </section>
  );
}
