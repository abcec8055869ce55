import { useCallback, useEffect, useState } from 'react';
import {
  ApiError,
  SESSION_LOST,
  closeSession,
  getSession,
  hasScope,
  openSession,
  type Session,
} from './api.ts';
import { AuditPanel } from './audit-panel.tsx';
import { ClientPage } from './client-page.tsx';
import { ClientsPage } from './clients-page.tsx';
import {
  PortalCredentials,
  PortalInvoices,
  PortalKeys,
  PortalUsage,
  PortalWebhooks,
} from './portal.tsx';
import { navigate, usePath } from './router.ts';
import { UsagePage } from './usage-page.tsx';
import { AdminTokensPage } from './admin-tokens-page.tsx';
import { CredentialsPage } from './credentials-page.tsx';
import { InvoicesPage } from './invoices-page.tsx';
import { ErrorBox } from './ui.tsx';
import { WebhooksPage } from './webhooks-page.tsx';

const OPERATOR_NAV = [
  { path: '/clients', label: 'Clients' },
  { path: '/usage', label: 'Usage', scope: 'usage:read' },
  { path: '/invoices', label: 'Invoices', scope: 'invoices:read' },
  { path: '/credentials', label: 'Credentials', scope: 'credentials:read' },
  { path: '/webhooks', label: 'Webhooks', scope: 'webhooks:read' },
  { path: '/tokens', label: 'Admin tokens', scope: 'tokens:write' },
  { path: '/audit', label: 'Audit log' },
];
const CLIENT_NAV = [
  { path: '/portal', label: 'Usage' },
  { path: '/portal/keys', label: 'Keys' },
  { path: '/portal/invoices', label: 'Invoices' },
  { path: '/portal/credentials', label: 'Credentials' },
  { path: '/portal/webhooks', label: 'Webhooks' },
];

function home(session: Session): string {
  return session.kind === 'operator' ? '/clients' : '/portal';
}

/** The session of this browser, checked on load and again whenever an API call answers 401. */
function useSession() {
  const [session, setSession] = useState<Session | null>(null);
  const [checked, setChecked] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const check = useCallback(() => {
    getSession().then(
      (r) => {
        setSession(r.session);
        setChecked(true);
      },
      (e: unknown) => {
        setSession(null);
        setChecked(true);
        if (!(e instanceof ApiError && e.status === 401)) setError(e);
      },
    );
  }, []);

  useEffect(check, [check]);
  useEffect(() => {
    window.addEventListener(SESSION_LOST, check);
    return () => window.removeEventListener(SESSION_LOST, check);
  }, [check]);
  return { session, setSession, checked, error, setError };
}

/** The dashboard: sign-in, then the operator console or the client portal by session kind. */
export function App() {
  const { session, setSession, checked, error, setError } = useSession();
  const path = usePath();

  // Each kind of session has its own part of the dashboard.
  useEffect(() => {
    if (!session) return;
    const mine =
      session.kind === 'operator'
        ? !path.startsWith('/portal') && path !== '/'
        : path.startsWith('/portal');
    if (!mine) navigate(home(session), true);
  }, [session, path]);

  if (!checked) return <p className="loading">Loading…</p>;
  if (!session)
    return (
      <SignIn
        error={error}
        onSignedIn={(s) => {
          setError(null);
          setSession(s);
          navigate(home(s), true);
        }}
      />
    );

  const signOut = async () => {
    try {
      await closeSession();
    } catch (e) {
      setError(e);
    }
    setSession(null);
    navigate('/', true);
  };

  return (
    <div className="layout">
      <TopBar session={session} path={path} onSignOut={signOut} />
      <main>
        <ErrorBox error={error} />
        <Route session={session} path={path} />
      </main>
    </div>
  );
}

function TopBar({
  session,
  path,
  onSignOut,
}: {
  session: Session;
  path: string;
  onSignOut: () => void;
}) {
  const nav =
    session.kind === 'operator'
      ? OPERATOR_NAV.filter((n) => !n.scope || hasScope(session.scopes, n.scope))
      : CLIENT_NAV;
  return (
    <header className="top">
      <span className="brand">Keyplane</span>
      <span className="muted">
        {session.kind === 'operator' ? 'Operator console' : 'Client portal'}
      </span>
      <nav>
        {nav.map((n) => (
          <a
            key={n.path}
            href={n.path}
            className={
              path === n.path || (n.path !== '/portal' && path.startsWith(`${n.path}/`))
                ? 'active'
                : ''
            }
            onClick={(e) => {
              e.preventDefault();
              navigate(n.path);
            }}
          >
            {n.label}
          </a>
        ))}
      </nav>
      <span className="who" data-testid="session-name">
        {session.name}
      </span>
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}

function Route({ session, path }: { session: Session; path: string }) {
  if (session.kind === 'operator') {
    const m = /^\/clients\/([^/]+)$/.exec(path);
    if (m) return <ClientPage key={m[1]} session={session} id={decodeURIComponent(m[1]!)} />;
    if (path === '/usage') return <UsagePage />;
    if (path === '/tokens') return <AdminTokensPage session={session} />;
    if (path === '/credentials')
      return (
        <CredentialsPage
          base="/admin/v1/credentials"
          title="Platform credentials"
          intro="The operator's own provider keys (for the platform, not any one client), encrypted at rest. A stored secret is never shown again. The proxy uses them for providers whose policy is platform or byok_then_platform."
          canWrite={hasScope(session.scopes, 'credentials:write')}
        />
      );
    if (path === '/invoices')
      return <InvoicesPage canWrite={hasScope(session.scopes, 'invoices:write')} />;
    if (path === '/webhooks')
      return (
        <WebhooksPage
          base="/admin/v1/webhooks"
          canWrite={hasScope(session.scopes, 'webhooks:write')}
          intro="The operator's endpoints receive every client's events. Each request is signed (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) with the endpoint's own secret."
        />
      );
    if (path === '/audit')
      return (
        <div>
          <h1>Audit log</h1>
          <AuditPanel />
        </div>
      );
    return <ClientsPage session={session} />;
  }
  if (path === '/portal/keys') return <PortalKeys session={session} />;
  if (path === '/portal/invoices') return <PortalInvoices />;
  if (path === '/portal/credentials') return <PortalCredentials session={session} />;
  if (path === '/portal/webhooks') return <PortalWebhooks session={session} />;
  return <PortalUsage />;
}

type SignInKind = 'operator' | 'client';

function SignIn({ error, onSignedIn }: { error: unknown; onSignedIn: (s: Session) => void }) {
  const [tab, setTab] = useState<SignInKind>('operator');
  const [secret, setSecret] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const submit = async () => {
    setBusy(true);
    setFailure(null);
    const value = secret.trim();
    // The credential is sent once and dropped from the page whatever the answer.
    setSecret('');
    try {
      const r = await openSession(tab === 'operator' ? { adminToken: value } : { apiKey: value });
      onSignedIn(r.session);
    } catch (e) {
      setFailure(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="signin">
      <h1>Keyplane</h1>
      <SignInTabs tab={tab} onTab={setTab} />
      <form
        className="card form"
        autoComplete="off"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <CredentialField tab={tab} secret={secret} onSecret={setSecret} />
        <ErrorBox error={failure ?? error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Sign in
          </button>
        </div>
      </form>
      <p className="muted small">
        The session is an HttpOnly cookie; the token or key is not kept in this browser.
      </p>
    </div>
  );
}

function SignInTabs({ tab, onTab }: { tab: SignInKind; onTab: (tab: SignInKind) => void }) {
  return (
    <div className="tabs" role="tablist">
      <button
        type="button"
        role="tab"
        aria-selected={tab === 'operator'}
        className={tab === 'operator' ? 'active' : ''}
        onClick={() => onTab('operator')}
      >
        Operator — admin token
      </button>
      <button
        type="button"
        role="tab"
        aria-selected={tab === 'client'}
        className={tab === 'client' ? 'active' : ''}
        onClick={() => onTab('client')}
      >
        Client — API key
      </button>
    </div>
  );
}

function CredentialField({
  tab,
  secret,
  onSecret,
}: {
  tab: SignInKind;
  secret: string;
  onSecret: (secret: string) => void;
}) {
  return (
    <>
      <label>
        {tab === 'operator' ? 'Admin token' : 'API key'}
        <input
          type="password"
          name="credential"
          autoComplete="off"
          value={secret}
          onChange={(e) => onSecret(e.target.value)}
          placeholder={tab === 'operator' ? 'kpadm_live_…' : 'kp_live_… or kp_test_…'}
          required
          autoFocus
          aria-label={tab === 'operator' ? 'Admin token' : 'API key'}
        />
      </label>
      <p className="muted small">
        {tab === 'operator' ? (
          <>
            The bootstrap admin token is printed once by the first <code>keyplane serve</code>;{' '}
            <code>keyplane admin-tokens create</code> makes more.
          </>
        ) : (
          'Sign in with one of your API keys. The session has exactly that key’s scopes.'
        )}
      </p>
    </>
  );
}
