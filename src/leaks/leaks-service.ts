import type { LeaksServiceDeps } from './leaks-context.ts';
import { createLeaksManage } from './leaks-manage.ts';
import { createLeakPartners } from './leaks-partners.ts';
import { createLeakReporter } from './leaks-report.ts';

export type { LeaksServiceDeps } from './leaks-context.ts';

/**
 * Leaked keys (issue 17): reports from secret scanning partners (GitHub, GitLab), operators
 * and `keyplane scan`. Each token: checksum first (a wrong one is a false positive that never
 * touches storage), then its hash; a live key gets its client's policy (revoke, roll or
 * notify) once, however often it is reported; every report is audited and emailed.
 *
 * The parts: `leaks-report.ts` (the report pipeline), `leaks-partners.ts` (GitHub's and
 * GitLab's authentication) and `leaks-manage.ts` (policies, reports, rolled keys' replacements).
 */
export function createLeaksService(deps: LeaksServiceDeps) {
  const ctx = { ...deps, mails: new Set<Promise<void>>() };
  return {
    ...createLeakReporter(ctx),
    ...createLeakPartners(ctx),
    ...createLeaksManage(ctx),
  };
}

export type LeaksService = ReturnType<typeof createLeaksService>;
