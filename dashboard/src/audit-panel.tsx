import { useState } from 'react';
import { api, qs, type AuditEntry, type Page } from './api.ts';
import { ErrorBox, When, useLoad } from './ui.tsx';

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
      {list.data && <AuditTable entries={list.data.data} showClient={!clientId} />}
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

function AuditTable({ entries, showClient }: { entries: AuditEntry[]; showClient: boolean }) {
  return (
    <table className="small">
      <thead>
        <tr>
          <th>#</th>
          <th>When</th>
          <th>Action</th>
          <th>Actor</th>
          <th>Target</th>
          {showClient && <th>Client</th>}
          <th>IP</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((a) => (
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
            {showClient && <td className="muted">{a.clientId ?? ''}</td>}
            <td className="muted">{a.ip ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
