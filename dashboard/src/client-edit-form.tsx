import { useState } from 'react';
import { api, type Client } from './api.ts';
import { ErrorBox, FormActions, useAction } from './ui.tsx';

/** Edits a client's name, email, tier and default rate limit (PATCH /admin/v1/clients/{id}). */
export function ClientEditForm({
  client,
  onCancel,
  onSaved,
}: {
  client: Client;
  onCancel: () => void;
  onSaved: (client: Client) => void;
}) {
  const [name, setName] = useState(client.name);
  const [email, setEmail] = useState(client.email ?? '');
  const [tier, setTier] = useState(client.tier);
  const [limit, setLimit] = useState(client.defaultRateLimit?.limit.toString() ?? '');
  const [windowSeconds, setWindowSeconds] = useState(
    client.defaultRateLimit?.windowSeconds.toString() ?? '60',
  );
  const action = useAction();

  return (
    <form
      className="card form"
      aria-label="Edit client"
      onSubmit={async (e) => {
        e.preventDefault();
        const body = changesOf(client, { name, email, tier, limit, windowSeconds });
        if (!Object.keys(body).length) return onCancel();
        const r = await action.run(() =>
          api<{ client: Client }>('PATCH', `/admin/v1/clients/${client.id}`, body),
        );
        if (r) onSaved(r.client);
      }}
    >
      <h3>Edit client</h3>
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
          required={client.email !== null}
          maxLength={320}
        />
      </label>
      <label>
        Tier
        <input value={tier} onChange={(e) => setTier(e.target.value)} maxLength={32} />
      </label>
      <RateLimitFields
        limit={limit}
        windowSeconds={windowSeconds}
        onLimit={setLimit}
        onWindowSeconds={setWindowSeconds}
      />
      <ErrorBox error={action.error} />
      <FormActions submitLabel="Save client" disabled={action.busy} onCancel={onCancel} />
    </form>
  );
}

/** Only what changed is sent: an unchanged field is not rewritten (nor audited as changed). */
function changesOf(
  client: Client,
  f: { name: string; email: string; tier: string; limit: string; windowSeconds: string },
): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (f.name.trim() !== client.name) body.name = f.name.trim();
  if (f.email.trim() && f.email.trim() !== client.email) body.email = f.email.trim();
  if (f.tier.trim() !== client.tier) body.tier = f.tier.trim();
  const rateLimit = f.limit.trim()
    ? { limit: Number(f.limit), windowSeconds: Number(f.windowSeconds) }
    : null;
  const before = client.defaultRateLimit;
  if (
    (rateLimit === null) !== (before === null) ||
    (rateLimit &&
      before &&
      (rateLimit.limit !== before.limit || rateLimit.windowSeconds !== before.windowSeconds))
  )
    body.defaultRateLimit = rateLimit;
  return body;
}

function RateLimitFields({
  limit,
  windowSeconds,
  onLimit,
  onWindowSeconds,
}: {
  limit: string;
  windowSeconds: string;
  onLimit: (v: string) => void;
  onWindowSeconds: (v: string) => void;
}) {
  return (
    <div className="pair">
      <label>
        Default rate limit, calls (empty: none)
        <input
          type="number"
          min={1}
          step={1}
          value={limit}
          onChange={(e) => onLimit(e.target.value)}
        />
      </label>
      <label>
        per seconds
        <input
          type="number"
          min={1}
          max={31_536_000}
          step={1}
          value={windowSeconds}
          onChange={(e) => onWindowSeconds(e.target.value)}
          required={limit.trim() !== ''}
        />
      </label>
    </div>
  );
}
