import type { LeakSource, LeakAction } from '../store/tables/leaks.ts';
export { LEAK_POLICIES } from '../store/tables/leaks.ts';
export type {
  LeakPolicy,
  LeakSource,
  LeakAction,
  LeakReportsTable,
  LeakSignaturesTable,
  LeakPoliciesTable,
  LeakSealedKeysTable,
  LeaksTables,
} from '../store/tables/leaks.ts';

/** The partner feedback label (GitHub's secret scanning partner program). */
export type LeakLabel = 'true_positive' | 'false_positive';

/** One token in a report, whatever the scanner. */
export interface ReportedToken {
  token: string;
  type?: string | null;
  url?: string | null;
}

/** What a report answers per token. */
export interface LeakOutcome {
  tokenHash: string;
  tokenType: string | null;
  label: LeakLabel;
  /** null for a false positive. */
  action: LeakAction | null;
  clientId: string | null;
  keyId: string | null;
  keyStart: string | null;
}

export interface LeakReport {
  id: string;
  clientId: string;
  keyId: string;
  keyStart: string;
  source: LeakSource;
  tokenType: string | null;
  url: string | null;
  action: LeakAction;
  newKeyId: string | null;
  createdAt: string;
}
