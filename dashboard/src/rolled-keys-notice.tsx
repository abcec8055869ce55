import { useState } from 'react';
import { api, type ApiKey } from './api.ts';
import { ErrorBox, OneTimeSecret, useAction, useLoad } from './ui.tsx';

interface Revealed {
  key: ApiKey;
  apiKey: string;
  replacedKeyId: string;
}

/**
 * Keys rolled after a leak report (leak policy `roll`): their replacements wait sealed on the
 * server until the client asks to see them here, once. Nothing is fetched until the button is
 * pressed, so a glance at the page does not use the one showing up.
 */
export function RolledKeysNotice({
  canReveal,
  onRevealed,
}: {
  canReveal: boolean;
  onRevealed: () => void;
}) {
  const pending = useLoad(() => api<{ pending: number }>('GET', '/v1/leaks/rolled-keys'), []);
  const action = useAction();
  const [shown, setShown] = useState<Revealed[]>([]);
  const count = pending.data?.pending ?? 0;

  const reveal = async () => {
    const res = await action.run(() =>
      api<{ data: Revealed[] }>('POST', '/v1/leaks/rolled-keys/reveal'),
    );
    if (!res) return;
    setShown(res.data);
    pending.reload();
    onRevealed();
  };

  if (!count && !shown.length) return null;
  return (
    <section className="panel" aria-label="Rolled keys">
      {count > 0 && (
        <div className="warning" role="status">
          <p>
            <strong>
              {count} key{count > 1 ? 's were' : ' was'} found exposed and rolled.
            </strong>{' '}
            The old key no longer works; its replacement is shown once.
          </p>
          {canReveal ? (
            <button type="button" className="primary" disabled={action.busy} onClick={reveal}>
              Show the replacement{count > 1 ? 's' : ''}
            </button>
          ) : (
            <p className="muted">
              Sign in with a key that has the <code>keys:write</code> scope to see it.
            </p>
          )}
        </div>
      )}
      <ErrorBox error={action.error ?? pending.error} />
      {shown.map((r) => (
        <OneTimeSecret
          key={r.key.id}
          label={`Replacement for a leaked key: ${r.key.name ?? r.key.id}`}
          secret={r.apiKey}
          onDismiss={() => setShown((s) => s.filter((x) => x.key.id !== r.key.id))}
        />
      ))}
    </section>
  );
}
