import { useEffect, useRef, useState } from 'react';
import { api, hasScope, qs, type ApiKey, type Client, type Page, type Session } from './api.ts';
import { LegacyKeysNotice } from './legacy-keys-notice.tsx';
import { navigate } from './router.ts';
import { ErrorBox, FormActions, OneTimeSecret, StatusBadge, When, useAction } from './ui.tsx';

type KeyCounts = Record<string, { active: number; total: number } | null>;
type Created = { client: Client; apiKey: string };

/** The operator's list of clients: search, status filter, key counts, create. */
export function ClientsPage({ session }: { session: Session }) {
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const canWrite = hasScope(session.scopes, 'clients:write');
  const canKeys = hasScope(session.scopes, 'keys:read');
  const list = useClientList(canKeys);

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
            void list.fetchPage(null);
          }}
        />
      )}
      {canKeys && <LegacyKeysNotice />}
      <ClientsToolbar list={list} />
      <ErrorBox error={list.load.error} />
      <ClientsTable clients={list.clients} counts={list.counts} />
      {!list.load.busy && list.clients.length === 0 && <p className="muted">No clients match.</p>}
      {list.next && (
        <div className="pager">
          <button
            type="button"
            onClick={() => void list.fetchPage(list.next)}
            disabled={list.load.busy}
          >
            Load more
          </button>
        </div>
      )}
    </div>
  );
}

/**
 * The loaded pages of clients for a status and a search (the search applied once typing
 * paused: the server searches every client, not just a loaded page), with key counts.
 */
function useClientList(canKeys: boolean) {
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [clients, setClients] = useState<Client[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [counts, setCounts] = useState<KeyCounts>({});
  const load = useAction();

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
    if (canKeys) setCounts((m) => ({ ...m, ...keyCounts(page.data) }));
  };

  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250);
    return () => clearTimeout(t);
  }, [search]);

  useEffect(() => {
    void fetchPage(null);
  }, [status, query]);

  return { status, setStatus, search, setSearch, clients, next, counts, load, fetchPage };
}

function keyCounts(clients: Array<Client & { keys?: ApiKey[] }>): KeyCounts {
  const out: KeyCounts = {};
  for (const c of clients) {
    const keys = c.keys ?? [];
    out[c.id] = { active: keys.filter((x) => x.status === 'active').length, total: keys.length };
  }
  return out;
}

function ClientsToolbar({ list }: { list: ReturnType<typeof useClientList> }) {
  return (
    <div className="toolbar">
      <input
        type="search"
        placeholder="Search name, email, id, tier"
        value={list.search}
        onChange={(e) => list.setSearch(e.target.value)}
        aria-label="Search clients"
      />
      <select
        value={list.status}
        onChange={(e) => list.setStatus(e.target.value)}
        aria-label="Status"
      >
        <option value="">all statuses</option>
        <option value="active">active</option>
        <option value="suspended">suspended</option>
        <option value="deleted">deleted</option>
      </select>
    </div>
  );
}

function ClientsTable({ clients, counts }: { clients: Client[]; counts: KeyCounts }) {
  return (
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
  );
}

function CreateClientForm({
  onCreated,
  onCancel,
}: {
  onCreated: (c: Created) => void;
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
        const r = await action.run(() => api<Created>('POST', '/admin/v1/clients', body));
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
