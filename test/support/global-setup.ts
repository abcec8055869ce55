import type { TestProject } from 'vitest/node';
import { rebuildDashboardIfStale } from './dashboard-build.ts';
import { createDatabaseTemplates } from './db-template.ts';
import { buildKeyplaneBundle, type TestWorker } from './keyplane-bundle.ts';
import { startPostgres, startRedis, type RunningServer } from './servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
    redisUrl: string | null;
    /** This run's bundle of the CLI, which keyplane-process.ts starts as `keyplane`. */
    keyplaneBundle: string;
    /** This run's bundle of the SQLite usage writer thread (see keyplane-bundle.ts). */
    usageWriterBundle: string;
    /** A migrated SQLite file, copied by createMigratedTestDatabase (see db-template.ts). */
    sqliteTemplate: string;
    /** The migrated PostgreSQL database it clones, when PostgreSQL runs. */
    postgresTemplate: string | null;
    /** This run's bundles of the suite's child-process scripts (keyplane-bundle.ts TEST_WORKERS). */
    testWorkers: Record<TestWorker, string>;
  }
}

/**
 * Starts PostgreSQL and Redis once for the whole run. With CI=true a missing server fails the
 * run; elsewhere the suites that need it are skipped with a warning.
 */
export default async function setup(project: TestProject) {
  const ci = process.env.CI === 'true';
  // Once, before any worker: the browser suites serve dashboard/dist.
  await rebuildDashboardIfStale();
  const started: RunningServer[] = [];
  let postgresUrl = process.env.KEYPLANE_TEST_POSTGRES_URL ?? null;
  let redisUrl = process.env.KEYPLANE_TEST_REDIS_URL ?? null;
  if (!postgresUrl) {
    const pg = await startPostgres();
    if (pg) {
      started.push(pg);
      postgresUrl = pg.url;
    }
  }
  if (!redisUrl) {
    const redis = await startRedis();
    if (redis) {
      started.push(redis);
      redisUrl = redis.url;
    }
  }
  for (const [name, url] of [
    ['PostgreSQL (install postgresql or set KEYPLANE_TEST_POSTGRES_URL)', postgresUrl],
    ['Redis (install redis-server or set KEYPLANE_TEST_REDIS_URL)', redisUrl],
  ] as const) {
    if (!url) {
      if (ci) throw new Error(`CI=true and no ${name} is available`);
      console.warn(`warning: no ${name}: its suites are skipped`);
    }
  }
  project.provide('postgresUrl', postgresUrl);
  project.provide('redisUrl', redisUrl);
  const templates = await createDatabaseTemplates(postgresUrl);
  project.provide('sqliteTemplate', templates.sqlite);
  project.provide('postgresTemplate', templates.postgres);
  const bundle = await buildKeyplaneBundle();
  project.provide('keyplaneBundle', bundle.file);
  project.provide('usageWriterBundle', bundle.usageWriter);
  project.provide('testWorkers', bundle.workers);
  return async () => {
    bundle.remove();
    await templates.remove();
    await Promise.all(started.map((s) => s.stop()));
  };
}
