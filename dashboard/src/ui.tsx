import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './api.ts';

/** An API error as the user should read it: the server's message, its code and request id. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e =
    error instanceof ApiError
      ? error
      : new ApiError(0, 'error', error instanceof Error ? error.message : String(error), null);
  return (
    <div className="error" role="alert">
      <strong>{e.message}</strong>
      <span className="muted">
        {' '}
        ({e.code}
        {e.requestId ? `, request ${e.requestId}` : ''})
      </span>
    </div>
  );
}

/**
 * Loads data once and on `reload()`; the error is shown by the caller with ErrorBox.
 * `deps` re-run the loader when they change.
 */
export function useLoad<T>(loader: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const load = useCallback(loader, deps);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [load, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Runs an action, keeping its error and a busy flag for the button that started it. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await fn();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

/**
 * A secret shown exactly once (a new API key): a clear box, a copy button and a warning. The
 * parent drops the secret from its state when the user dismisses the box.
 */
export function OneTimeSecret({
  label,
  secret,
  onDismiss,
  stored = 'Keyplane stores only its hash.',
}: {
  label: string;
  secret: string;
  onDismiss: () => void;
  /** How Keyplane keeps it, after "this is the only time it is shown". */
  stored?: string;
}) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="secret" role="region" aria-label="New secret">
      <p>
        <strong>{label}</strong>
      </p>
      <p className="warning">Copy it now: this is the only time it is shown. {stored}</p>
      <div className="secret-row">
        <code data-testid="one-time-secret">{secret}</code>
        <button type="button" onClick={copy}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <button type="button" className="primary" onClick={onDismiss}>
        I have stored it — dismiss
      </button>
    </div>
  );
}

/** A form's Cancel and submit buttons. */
export function FormActions({
  submitLabel,
  disabled,
  onCancel,
}: {
  submitLabel: string;
  /** The submit button's state: while the form is sent, or while it is incomplete. */
  disabled: boolean;
  onCancel: () => void;
}) {
  return (
    <div className="actions">
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
      <button type="submit" className="primary" disabled={disabled}>
        {submitLabel}
      </button>
    </div>
  );
}

/** A modal dialog for a confirmation; `confirmText` must be typed before confirming. */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  confirmText,
  danger,
  busy,
  onConfirm,
  onCancel,
}: {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  confirmText?: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const [typed, setTyped] = useState('');
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const ok = confirmText === undefined || typed === confirmText;
  return (
    <dialog ref={ref} className="dialog" onCancel={onCancel} aria-label={title}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (ok) onConfirm();
        }}
      >
        <h3>{title}</h3>
        {children}
        {confirmText !== undefined && (
          <label>
            Type <code>{confirmText}</code> to confirm
            <input
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              autoFocus
              aria-label="confirmation"
            />
          </label>
        )}
        <div className="actions">
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className={danger ? 'danger' : 'primary'} disabled={!ok || busy}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A printable HTML page (an invoice) in a sandboxed frame: no script of its own runs. */
export function HtmlViewer({
  title,
  html,
  onClose,
}: {
  title: string;
  html: string;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const openTab = () => {
    const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
    window.open(url, '_blank', 'noopener');
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  return (
    <dialog ref={ref} className="dialog wide" onCancel={onClose} aria-label={title}>
      <h3>{title}</h3>
      <iframe title={title} sandbox="" srcDoc={html} className="invoice-frame" />
      <div className="actions">
        <button type="button" onClick={openTab}>
          Open in a new tab (to print)
        </button>
        <button type="button" className="primary" onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  return <time dateTime={at}>{at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>;
}
