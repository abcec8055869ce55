import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { inject } from 'vitest';
import type { TestWorker } from './keyplane-bundle.ts';
import type { configSchema } from '../../src/config.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { buildApp, type App } from '../../src/http/app.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { loadKeyring } from '../../src/infra/master-key.ts';
import { createMetrics } from '../../src/infra/metrics.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { createServices, type Services, type ServicesDeps } from '../../src/services.ts';
import { createStore, type Engine } from '../../src/store/create-db.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { createMigratedTestDatabase, type TestDatabase } from './stores.ts';

/** This run's bundle of the SQLite usage writer thread: the same code, started without tsx. */
export const usageWriterBundle = (): URL => pathToFileURL(inject('usageWriterBundle'));
/** The bundled script of one of the suite's child processes, for `node FILE ARGS…`. */
export const testWorker = (name: TestWorker): string => inject('testWorkers')[name];

export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** Captures every log line the app writes, for redaction tests. */
export function logCapture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, stream: stream as unknown as DestinationStream, text: () => lines.join('\n') };
}

export interface HarnessOptions {
  /** KEYPLANE_* variables. */
  env?: Record<string, string>;
  /** Config file content (pricing, providers, …). */
  file?: Partial<Record<keyof typeof configSchema.shape, unknown>>;
  clock?: Clock;
  database?: TestDatabase;
  /** Shorter waits for the test (touch flush, e-mail retry back-off); production keeps its own. */
  tunables?: Pick<ServicesDeps, 'keysCache' | 'billingRetry'>;
}

export interface Harness {
  app: App;
  services: Services;
  config: Config;
  database: TestDatabase;
  logs: ReturnType<typeof logCapture>;
  /** A full-power admin token. */
  adminToken: string;
  adminHeaders: { authorization: string };
  close(): Promise<void>;
}

export function testConfig(database: TestDatabase, options: HarnessOptions = {}): Config {
  let configFile = '';
  if (options.file) {
    configFile = join(database.dir, 'keyplane.config.json');
    writeFileSync(configFile, JSON.stringify(options.file));
  }
  return loadConfig(
    {
      KEYPLANE_DATABASE_URL: database.url,
      KEYPLANE_DATA_DIR: database.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_LOG_LEVEL: 'info',
      KEYPLANE_CONFIG: configFile,
      ...options.env,
    },
    database.dir,
  );
}

/**
 * An in-process Keyplane on a fresh database of the given engine, with an admin token. Tests
 * talk to it with `app.inject()`; `close()` stops it and drops the database.
 */
export async function createHarness(
  engine: Engine,
  options: HarnessOptions = {},
): Promise<Harness> {
  const database = options.database ?? (await createMigratedTestDatabase(engine));
  const config = testConfig(database, options);
  const logs = logCapture();
  const logger = createLogger({ level: 'info', destination: logs.stream });
  const store = createStore(config.databaseUrl);
  await migrateToLatest(store.db);
  const services = createServices({
    store,
    config,
    logger,
    metrics: createMetrics({ defaults: false }),
    keyring: loadKeyring(config),
    clock: options.clock,
    usageWriterEntry: usageWriterBundle(),
    ...options.tunables,
  });
  const app = await buildApp({ services, docs: true });
  await app.ready();
  const { token } = await services.adminTokens.create({
    name: 'test',
    scopes: ['admin'],
    actor: { type: 'system', id: 'test' },
  });
  return {
    app,
    services,
    config,
    database,
    logs,
    adminToken: token,
    adminHeaders: { authorization: `Bearer ${token}` },
    close: async () => {
      await app.close();
      await services.close();
      if (!options.database) await database.drop();
    },
  };
}
