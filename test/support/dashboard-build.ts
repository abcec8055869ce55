import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const DASHBOARD_ROOT = resolve(import.meta.dirname, '../../dashboard');
export const DASHBOARD_DIST = resolve(DASHBOARD_ROOT, 'dist');

let building: Promise<void> | null = null;

function build(): Promise<void> {
  return import('vite').then(async ({ build: viteBuild }) => {
    await viteBuild({
      configFile: resolve(DASHBOARD_ROOT, 'vite.config.ts'),
      root: DASHBOARD_ROOT,
      logLevel: 'warn',
    });
  });
}

/** The newest modification time among the dashboard's sources. */
function newestSource(dir = resolve(DASHBOARD_ROOT, 'src')): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Whether dashboard/dist is missing or older than a source file (dist is not in git: a
 * checkout with new pages would otherwise serve the old bundle to the browser suites).
 */
export function dashboardStale(): boolean {
  const index = resolve(DASHBOARD_DIST, 'index.html');
  if (!existsSync(index)) return true;
  const sources = [
    newestSource(),
    statSync(resolve(DASHBOARD_ROOT, 'index.html')).mtimeMs,
    statSync(resolve(DASHBOARD_ROOT, 'vite.config.ts')).mtimeMs,
  ];
  return Math.max(...sources) > statSync(index).mtimeMs;
}

/** Run once before the suites (global setup): rebuilds a missing or stale dashboard/dist. */
export async function rebuildDashboardIfStale(): Promise<void> {
  if (dashboardStale()) await build();
}

/**
 * Builds the dashboard with Vite when dashboard/dist is missing (a fresh clone where `prepare`
 * did not run), so the suites that serve it work after a plain `npm ci` or without it.
 */
export function ensureDashboardBuilt(): Promise<void> {
  if (existsSync(resolve(DASHBOARD_DIST, 'index.html'))) return Promise.resolve();
  building ??= build();
  return building;
}
