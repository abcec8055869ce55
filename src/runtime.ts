import type { Config } from './config.ts';
import type { Logger } from './infra/logger.ts';
import { loadKeyring } from './infra/master-key.ts';
import { createMetrics } from './infra/metrics.ts';
import type { Clock } from './lib/clock.ts';
import { createServices, type Services } from './services.ts';
import { createStore } from './store/create-db.ts';
import { migrateToLatest } from './store/migrate.ts';

/**
 * Opens everything a face needs: keyring → store → migrations → services. The server and
 * every CLI command start here, so they see the same store the same way.
 */
export async function openRuntime(
  config: Config,
  logger: Logger,
  options: { migrate?: boolean; clock?: Clock; metricsDefaults?: boolean } = {},
): Promise<Services> {
  const keyring = loadKeyring(config, (path) =>
    logger.warn(
      { path },
      'generated a master key for the embedded default; production must set KEYPLANE_MASTER_KEY (losing this file loses every stored credential)',
    ),
  );
  const store = createStore(config.databaseUrl);
  try {
    if (options.migrate !== false) {
      const applied = await migrateToLatest(store.db);
      if (applied.length) logger.info({ applied, store: store.describe }, 'migrations applied');
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  const metrics = createMetrics({ defaults: options.metricsDefaults });
  const services = createServices({
    store,
    config,
    logger,
    metrics,
    keyring,
    clock: options.clock,
  });
  if (options.migrate !== false) {
    // A wrong master key stops the start here, with a clear message, instead of failing to
    // open credentials later.
    try {
      await services.credentials.checkKeyring();
    } catch (err) {
      await services.close();
      throw err;
    }
  }
  return services;
}
