import { useState } from 'react';
import { api, type CreatedWebhookEndpoint, type WebhookEndpoint } from './api.ts';
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

export type WebhooksBase = '/admin/v1/webhooks' | '/v1/webhooks';

const SEALED = 'Keyplane keeps it encrypted with the master key, to sign with.';

/**
 * Webhook endpoints, the operator's (every client's events) or a client's own: add one (its
 * signing secret shown once), enable or disable it, change its event filter, roll its secret
 * (the old one keeps signing for a day) or delete it.
 */
export function WebhookEndpointsPanel({
  base,
  canWrite,
  onChanged,
}: {
  base: WebhooksBase;
  canWrite: boolean;
  /** Told after a change, so the page's message log can name the endpoints. */
  onChanged?: () => void;
}) {
  const list = useLoad(() => api<{ data: WebhookEndpoint[] }>('GET', `${base}/endpoints`), [base]);
  const types = useLoad(() => api<{ data: string[] }>('GET', `${base}/event-types`), [base]);
  const reload = () => {
    list.reload();
    onChanged?.();
  };
  const ep = useEndpointActions(base, reload);
  const { action, adding, setAdding, editing, setEditing, deleting, setDeleting } = ep;
  const { secret, setSecret, setEnabled, roll, remove } = ep;
  return (
    <section className="panel" aria-label="Webhook endpoints">
      <div className="panel-head">
        <h2>Endpoints</h2>
        {canWrite && !adding && (
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            Add endpoint
          </button>
        )}
      </div>
      {secret && (
        <OneTimeSecret
          label={secret.label}
          secret={secret.value}
          stored={SEALED}
          onDismiss={() => setSecret(null)}
        />
      )}
      {types.data && (
        <EndpointEditors
          base={base}
          eventTypes={types.data.data}
          adding={adding}
          editing={editing}
          onCloseAdd={() => setAdding(false)}
          onCloseEdit={() => setEditing(null)}
          onSecret={setSecret}
          onSaved={reload}
        />
      )}
      <ErrorBox error={action.error ?? list.error ?? types.error} />
      {list.data && list.data.data.length === 0 && <p className="muted">No endpoints yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <EndpointsTable
          endpoints={list.data.data}
          canWrite={canWrite}
          busy={action.busy}
          onEnable={setEnabled}
          onEdit={setEditing}
          onRoll={roll}
          onDelete={setDeleting}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete the endpoint ${deleting.url}`}
          confirmLabel="Delete endpoint"
          danger
          busy={action.busy}
          onCancel={() => setDeleting(null)}
          onConfirm={() => remove(deleting)}
        >
          <p>Its pending deliveries are dropped; the message log keeps their attempts.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

/** Enable, disable, roll and delete, with the state of the forms, the dialog and a new secret. */
function useEndpointActions(base: WebhooksBase, reload: () => void) {
  const action = useAction();
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<WebhookEndpoint | null>(null);
  const [deleting, setDeleting] = useState<WebhookEndpoint | null>(null);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);

  const setEnabled = async (ep: WebhookEndpoint, enabled: boolean) => {
    await action.run(() => api('PATCH', `${base}/endpoints/${ep.id}`, { enabled }));
    reload();
  };
  const roll = async (ep: WebhookEndpoint) => {
    const r = await action.run(() =>
      api<CreatedWebhookEndpoint>('POST', `${base}/endpoints/${ep.id}/roll-secret`, {}),
    );
    if (r)
      setSecret({
        label: `New signing secret for ${ep.url} (the old one also signs for 24 hours)`,
        value: r.secret,
      });
  };

  const remove = async (ep: WebhookEndpoint) => {
    setDeleting(null);
    await action.run(() => api('DELETE', `${base}/endpoints/${ep.id}`));
    reload();
  };
  return {
    action,
    adding,
    setAdding,
    editing,
    setEditing,
    deleting,
    setDeleting,
    secret,
    setSecret,
    setEnabled,
    roll,
    remove,
  };
}

function EndpointsTable({
  endpoints,
  canWrite,
  busy,
  onEnable,
  onEdit,
  onRoll,
  onDelete,
}: {
  endpoints: WebhookEndpoint[];
  canWrite: boolean;
  busy: boolean;
  onEnable: (ep: WebhookEndpoint, enabled: boolean) => void;
  onEdit: (ep: WebhookEndpoint) => void;
  onRoll: (ep: WebhookEndpoint) => void;
  onDelete: (ep: WebhookEndpoint) => void;
}) {
  return (
    <table>
      <thead>
        <tr>
          <th>URL</th>
          <th>Events</th>
          <th>Status</th>
          <th>Created</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {endpoints.map((ep) => (
          <tr key={ep.id} data-testid={`endpoint-${ep.id}`}>
            <td>
              <code>{ep.url}</code>
              {ep.description && <div className="muted small">{ep.description}</div>}
              <div className="muted small">{ep.id}</div>
            </td>
            <td className="small">
              {ep.eventTypes.length ? ep.eventTypes.join(', ') : 'every event'}
            </td>
            <td>
              <StatusBadge status={ep.enabled ? 'enabled' : 'disabled'} />
              {ep.disabledReason && <div className="muted small">{ep.disabledReason}</div>}
              {ep.failingSince && (
                <div className="muted small">
                  failing since <When at={ep.failingSince} />
                </div>
              )}
            </td>
            <td>
              <When at={ep.createdAt} />
            </td>
            <td className="row-actions">
              {canWrite && (
                <>
                  <button type="button" disabled={busy} onClick={() => onEnable(ep, !ep.enabled)}>
                    {ep.enabled ? 'Disable' : 'Enable'}
                  </button>
                  <button type="button" onClick={() => onEdit(ep)}>
                    Edit
                  </button>
                  <button type="button" disabled={busy} onClick={() => onRoll(ep)}>
                    Roll secret
                  </button>
                  <button type="button" className="danger" onClick={() => onDelete(ep)}>
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

/** The add form or the edit form, when one is open. */
function EndpointEditors(props: {
  base: WebhooksBase;
  eventTypes: string[];
  adding: boolean;
  editing: WebhookEndpoint | null;
  onCloseAdd: () => void;
  onCloseEdit: () => void;
  onSecret: (secret: { label: string; value: string }) => void;
  onSaved: () => void;
}) {
  const { base, eventTypes, editing, onCloseAdd, onCloseEdit } = props;
  return (
    <>
      {props.adding && (
        <EndpointForm
          base={base}
          eventTypes={eventTypes}
          onCancel={onCloseAdd}
          onSaved={(r) => {
            onCloseAdd();
            if (r.secret)
              props.onSecret({ label: `Signing secret for ${r.endpoint.url}`, value: r.secret });
            props.onSaved();
          }}
        />
      )}
      {editing && (
        <EndpointForm
          base={base}
          eventTypes={eventTypes}
          endpoint={editing}
          onCancel={onCloseEdit}
          onSaved={() => {
            onCloseEdit();
            props.onSaved();
          }}
        />
      )}
    </>
  );
}

/** Add an endpoint, or change one's URL, description and event filter. */
function EndpointForm({
  base,
  eventTypes,
  endpoint,
  onSaved,
  onCancel,
}: {
  base: WebhooksBase;
  eventTypes: string[];
  endpoint?: WebhookEndpoint;
  onSaved: (r: { endpoint: WebhookEndpoint; secret?: string }) => void;
  onCancel: () => void;
}) {
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [chosen, setChosen] = useState<string[]>(endpoint?.eventTypes ?? []);
  const action = useAction();
  const toggle = (t: string, on: boolean) =>
    setChosen((c) => (on ? [...c, t] : c.filter((x) => x !== t)));
  const submit = async () => {
    const body = { url: url.trim(), description: description.trim(), eventTypes: chosen };
    const r = endpoint
      ? await action.run(() =>
          api<{ endpoint: WebhookEndpoint }>('PATCH', `${base}/endpoints/${endpoint.id}`, body),
        )
      : await action.run(() => api<CreatedWebhookEndpoint>('POST', `${base}/endpoints`, body));
    if (r) onSaved(r);
  };
  return (
    <form
      className="card form"
      aria-label={endpoint ? 'Edit endpoint' : 'Add endpoint'}
      autoComplete="off"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h3>{endpoint ? `Edit ${endpoint.url}` : 'Add an endpoint'}</h3>
      <label>
        URL
        <input
          type="url"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          required
          maxLength={2000}
          placeholder="https://example.com/webhooks/keyplane"
          aria-label="Endpoint URL"
        />
      </label>
      <label>
        Description
        <input
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          maxLength={500}
          aria-label="Description"
        />
      </label>
      <EventTypesField eventTypes={eventTypes} chosen={chosen} onToggle={toggle} />
      <ErrorBox error={action.error} />
      <FormActions
        submitLabel={endpoint ? 'Save endpoint' : 'Create endpoint'}
        disabled={action.busy || !url.trim()}
        onCancel={onCancel}
      />
    </form>
  );
}

function EventTypesField({
  eventTypes,
  chosen,
  onToggle,
}: {
  eventTypes: string[];
  chosen: string[];
  onToggle: (t: string, on: boolean) => void;
}) {
  return (
    <fieldset className="scopes">
      <legend>Events (none ticked: every event)</legend>
      {eventTypes.map((t) => (
        <label key={t} className="check">
          <input
            type="checkbox"
            checked={chosen.includes(t)}
            onChange={(e) => onToggle(t, e.target.checked)}
          />
          {t}
        </label>
      ))}
    </fieldset>
  );
}
