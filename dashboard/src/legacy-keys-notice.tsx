import { api } from './api.ts';
import { ErrorBox, useLoad } from './ui.tsx';

interface LegacySummary {
  total: number;
  active: number;
  usedLast30Days: number;
}

/**
 * For the operator: how many imported legacy keys (`keyplane import`) are still active and in
 * use, so they can be retired by rolling each one (a roll issues a Keyplane key). Shows nothing
 * on a deployment without legacy keys.
 */
export function LegacyKeysNotice() {
  const summary = useLoad(() => api<LegacySummary>('GET', '/admin/v1/keys/legacy'), []);
  const s = summary.data;
  if (summary.error) return <ErrorBox error={summary.error} />;
  if (!s || s.total === 0) return null;
  return (
    <p className="notice" role="status" data-testid="legacy-keys">
      <span className="badge badge-legacy">legacy</span> {s.active} imported legacy key
      {s.active === 1 ? '' : 's'} still active ({s.usedLast30Days} used in the last 30 days,{' '}
      {s.total} imported in all). Roll them to retire them: each roll issues a Keyplane key.
    </p>
  );
}
