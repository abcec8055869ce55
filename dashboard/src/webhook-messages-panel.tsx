import { useState } from 'react';
import {
  api,
  qs,
  type Page,
  type WebhookAttempt,
  type WebhookEndpoint,
  type WebhookMessage,
} from './api.ts';
import { ErrorBox, StatusBadge, When, useAction, useLoad } from './ui.tsx';
import type { WebhooksBase } from './webhook-endpoints-panel.tsx';

type MessageDetail = WebhookMessage & { attempts: WebhookAttempt[] };

/**
 * The message log, newest first: each message's deliveries and, opened, every attempt (status,
 * duration, response excerpt), with a replay that sends it again under the same webhook-id.
 */
export function WebhookMessagesPanel({
  base,
  canWrite,
  generation,
}: {
  base: WebhooksBase;
  canWrite: boolean;
  /** Bumped when the endpoints change: their URLs name the deliveries. */
  generation: number;
}) {
  const [eventType, setEventType] = useState('');
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [openId, setOpenId] = useState<string | null>(null);
  const { list, types, urlOf } = useMessageLog(base, cursor, eventType, generation);

  return (
    <section className="panel" aria-label="Webhook messages">
      <div className="panel-head">
        <h2>Messages</h2>
        <EventTypeFilter
          value={eventType}
          types={types.data?.data}
          onChange={(t) => {
            setEventType(t);
            setCursor(undefined);
          }}
          onRefresh={list.reload}
        />
      </div>
      <ErrorBox error={list.error} />
      {list.data && list.data.data.length === 0 && <p className="muted">No messages yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Message</th>
              <th>Event</th>
              <th>Created</th>
              <th>Deliveries</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((m) => (
              <MessageRow
                key={m.id}
                m={m}
                open={openId === m.id}
                onToggle={() => setOpenId(openId === m.id ? null : m.id)}
                base={base}
                canWrite={canWrite}
                urlOf={urlOf}
                onReplayed={list.reload}
              />
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        {cursor && (
          <button type="button" onClick={() => setCursor(undefined)}>
            Newest
          </button>
        )}
        {list.data?.nextCursor && (
          <button type="button" onClick={() => setCursor(list.data!.nextCursor!)}>
            Older
          </button>
        )}
      </div>
    </section>
  );
}

/** A page of the log, the event types to filter by, and the endpoints' URLs by id. */
function useMessageLog(
  base: WebhooksBase,
  cursor: string | undefined,
  eventType: string,
  generation: number,
) {
  const list = useLoad(
    () =>
      api<Page<WebhookMessage>>(
        'GET',
        `${base}/messages${qs({ limit: 25, cursor, eventType: eventType || undefined })}`,
      ),
    [base, cursor, eventType, generation],
  );
  const types = useLoad(() => api<{ data: string[] }>('GET', `${base}/event-types`), [base]);
  const endpoints = useLoad(
    () => api<{ data: WebhookEndpoint[] }>('GET', `${base}/endpoints`),
    [base, generation],
  );
  const urlOf = (id: string) => endpoints.data?.data.find((e) => e.id === id)?.url ?? id;
  return { list, types, urlOf };
}

/** One message opened: its payload, every attempt, and the replay button. */
function MessageAttempts({
  base,
  id,
  canWrite,
  urlOf,
  onReplayed,
}: {
  base: WebhooksBase;
  id: string;
  canWrite: boolean;
  urlOf: (endpointId: string) => string;
  onReplayed: () => void;
}) {
  const detail = useLoad(
    () => api<{ message: MessageDetail }>('GET', `${base}/messages/${id}`),
    [base, id],
  );
  const action = useAction();
  const [notice, setNotice] = useState<string | null>(null);
  const replay = async () => {
    setNotice(null);
    const r = await action.run(() =>
      api<{ message: MessageDetail }>('POST', `${base}/messages/${id}/replay`, {}),
    );
    if (r) setNotice('Replay queued: it is sent again with the same webhook-id.');
    detail.reload();
    onReplayed();
  };
  const m = detail.data?.message;
  return (
    <div className="card" role="region" aria-label={`Attempts of ${id}`}>
      <div className="panel-head">
        <h3>Attempts</h3>
        <div className="toolbar">
          <button type="button" onClick={detail.reload}>
            Refresh attempts
          </button>
          {canWrite && m && m.deliveries.length > 0 && (
            <button type="button" className="primary" disabled={action.busy} onClick={replay}>
              Replay
            </button>
          )}
        </div>
      </div>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={action.error ?? detail.error} />
      {m && m.attempts.length === 0 && <p className="muted">Not attempted yet.</p>}
      {m && m.attempts.length > 0 && <AttemptsTable attempts={m.attempts} urlOf={urlOf} />}
      {m && (
        <details>
          <summary>Payload</summary>
          <pre className="excerpt">{JSON.stringify(m.payload, null, 2)}</pre>
        </details>
      )}
    </div>
  );
}

function MessageRow({
  m,
  open,
  onToggle,
  base,
  canWrite,
  urlOf,
  onReplayed,
}: {
  m: WebhookMessage;
  open: boolean;
  onToggle: () => void;
  base: WebhooksBase;
  canWrite: boolean;
  urlOf: (endpointId: string) => string;
  onReplayed: () => void;
}) {
  return (
    <>
      <tr data-testid={`message-${m.id}`}>
        <td>
          <code className="small">{m.id}</code>
        </td>
        <td>{m.eventType}</td>
        <td>
          <When at={m.createdAt} />
        </td>
        <td>
          {m.deliveries.length === 0 && <span className="muted">none</span>}
          {m.deliveries.map((d) => (
            <div key={d.id} className="small">
              <StatusBadge status={d.status} /> {urlOf(d.endpointId)}{' '}
              <span className="muted">
                ({d.attempts} attempt{d.attempts === 1 ? '' : 's'})
              </span>
            </div>
          ))}
        </td>
        <td className="row-actions">
          <button type="button" aria-expanded={open} onClick={onToggle}>
            {open ? 'Hide' : 'Attempts'}
          </button>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={5}>
            <MessageAttempts
              base={base}
              id={m.id}
              canWrite={canWrite}
              urlOf={urlOf}
              onReplayed={onReplayed}
            />
          </td>
        </tr>
      )}
    </>
  );
}

function EventTypeFilter({
  value,
  types,
  onChange,
  onRefresh,
}: {
  value: string;
  types: string[] | undefined;
  onChange: (eventType: string) => void;
  onRefresh: () => void;
}) {
  return (
    <div className="toolbar">
      <select value={value} aria-label="Event type" onChange={(e) => onChange(e.target.value)}>
        <option value="">every event</option>
        {types?.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
      <button type="button" onClick={onRefresh}>
        Refresh
      </button>
    </div>
  );
}

function AttemptsTable({
  attempts,
  urlOf,
}: {
  attempts: WebhookAttempt[];
  urlOf: (endpointId: string) => string;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>#</th>
          <th>Endpoint</th>
          <th>Started</th>
          <th>Status</th>
          <th>Duration</th>
          <th>Response</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.id} data-testid={`attempt-${a.id}`}>
            <td className="num">{a.attempt}</td>
            <td className="small">{urlOf(a.endpointId)}</td>
            <td>
              <When at={a.startedAt} />
            </td>
            <td>
              <StatusBadge status={a.outcome} /> {a.statusCode ?? ''}
              {a.error && <div className="muted small">{a.error}</div>}
            </td>
            <td className="num">{a.durationMs} ms</td>
            <td>
              <code className="excerpt">{a.responseExcerpt ?? ''}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
