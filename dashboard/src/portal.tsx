import { useState } from 'react';
import {
  api,
  hasScope,
  type ApiKey,
  type Budget,
  type Client,
  type Session,
  type UsageSummary,
} from './api.ts';
import { BudgetsTable } from './budgets-panel.tsx';
import { CredentialsPage } from './credentials-page.tsx';
import { InvoicesPanel } from './invoices-panel.tsx';
import { KeysPanel } from './keys-panel.tsx';
import { RolledKeysNotice } from './rolled-keys-notice.tsx';
import { ErrorBox, StatusBadge, useLoad } from './ui.tsx';
import { UsageChart } from './usage-chart.tsx';
import { WebhooksPage } from './webhooks-page.tsx';

/** The client portal's home: who is signed in, its budgets, and the last 30 days of calls and cost. */
export function PortalUsage() {
  const me = useLoad(
    () => api<{ client: Client; key: ApiKey; budgets: Budget[] }>('GET', '/v1/me'),
    [],
  );
  const usage = useLoad(() => api<UsageSummary>('GET', '/v1/usage?groupBy=day'), []);
  return (
    <div>
      <div className="page-head">
        <h1>
          {me.data?.client.name ?? 'Usage'}{' '}
          {me.data && <StatusBadge status={me.data.client.status} />}
        </h1>
        <button
          type="button"
          onClick={() => {
            usage.reload();
            me.reload();
          }}
        >
          Refresh
        </button>
      </div>
      <ErrorBox error={me.error ?? usage.error} />
      {me.data && (
        <p className="muted">
          Signed in with key <code>{me.data.key.start}…</code> ({me.data.key.environment})
        </p>
      )}
      {me.data && me.data.budgets.length > 0 && (
        <section className="panel" aria-label="Budgets">
          <div className="panel-head">
            <h2>Budgets</h2>
          </div>
          <BudgetsTable
            budgets={me.data.budgets}
            keyLabel={(id) => (id === me.data!.key.id ? `${me.data!.key.start}… (this key)` : id)}
          />
        </section>
      )}
      <section className="panel">
        <div className="panel-head">
          <h2>Usage, last 30 days</h2>
        </div>
        {usage.data && <UsageChart summary={usage.data} />}
      </section>
    </div>
  );
}

export function PortalKeys({ session }: { session: Session }) {
  const canWrite = hasScope(session.scopes, 'keys:write');
  // The keys list is remounted after a reveal, so the replacement shows up in it.
  const [generation, setGeneration] = useState(0);
  return (
    <>
      <RolledKeysNotice canReveal={canWrite} onRevealed={() => setGeneration((g) => g + 1)} />
      <KeysPanel
        key={generation}
        base="/v1/keys"
        canWrite={canWrite}
        canReactivate={false}
        currentKeyId={session.keyId}
      />
    </>
  );
}

export function PortalInvoices() {
  return <InvoicesPanel base="/v1/invoices" canWrite={false} />;
}

export function PortalCredentials({ session }: { session: Session }) {
  if (!hasScope(session.scopes, 'credentials:read'))
    return (
      <p className="muted">
        This key has no <code>credentials:read</code> scope: sign in with a key that has it to
        manage credentials.
      </p>
    );
  return <CredentialsPage canWrite={hasScope(session.scopes, 'credentials:write')} />;
}

export function PortalWebhooks({ session }: { session: Session }) {
  if (!hasScope(session.scopes, 'webhooks:write'))
    return (
      <p className="muted">
        This key has no <code>webhooks:write</code> scope: sign in with a key that has it to manage
        webhooks.
      </p>
    );
  return (
    <WebhooksPage
      base="/v1/webhooks"
      canWrite
      intro="Your endpoints receive your own events (keys, credits, rate limits, invoices). Each request is signed (Standard Webhooks) with the endpoint's secret; verify it with @keyplane/sdk's verifyWebhook or any Standard Webhooks library."
    />
  );
}
