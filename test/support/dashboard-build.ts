import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const DASHBOARD_ROOT = resolve(import.meta.dirname, '../../dashboard');
export const DASHBOARD_DIST = resolve(DASHBOARD_ROOT, 'dist');

let building: Promise<void> | null = null;

/**
 * Builds the dashboard with Vite when dashboard/dist is missing (a fresh clone where `prepare`
 * did not run), so the suites that serve it work after a plain `npm ci` or without it.
 */
export function ensureDashboardBuilt(): Promise<void> {
  if (existsSync(resolve(DASHBOARD_DIST, 'index.html'))) return Promise.resolve();
  building ??= import('vite').then(async ({ build }) => {
    await build({
      configFile: resolve(DASHBOARD_ROOT, 'vite.config.ts'),
      root: DASHBOARD_ROOT,
      logLevel: 'warn',
    });
  });
  return building;
}
