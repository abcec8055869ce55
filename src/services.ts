import { createAdminTokensService } from './admin-tokens/admin-tokens-service.ts';
import { createAdminTokensStore } from './admin-tokens/admin-tokens-store.ts';
import { createAuditService } from './audit/audit-service.ts';
import { createAuditStore } from './audit/audit-store.ts';
import { clientDirectory, createBillingService } from './billing/billing-service.ts';
import { createBillingStore } from './billing/billing-store.ts';
import { createMailer } from './infra/mailer.ts';
import type { Config } from './config.ts';
import type { Logger } from './infra/logger.ts';
import { createRedis, type Redis } from './infra/redis.ts';
import { createChangeFeed } from './infra/change-feed.ts';
import { clientSnapshots, createClientsService } from './clients/clients-service.ts';
import { createClientsStore } from './clients/clients-store.ts';
import { createCredentialsService } from './credentials/credentials-service.ts';
import { createCredentialsStore } from './credentials/credentials-store.ts';
import { createProxyService } from './proxy/proxy-service.ts';
import { createKeysService, type KeysServiceDeps } from './keys/keys-service.ts';
import { createKeysStore } from './keys/keys-store.ts';
import type { Metrics } from './infra/metrics.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import type { Keyring } from './infra/master-key.ts';
import type { Store } from './store/create-db.ts';
import {
  compilePriceBook,
  createSqliteUsageWriter,
  createUsageService,
  createUsageStore,
} from './usage/index.ts';
import { createRateLimitService } from './ratelimit/ratelimit-service.ts';
import { createMetaStore } from './store/meta-store.ts';
import { createDashboardService } from './dashboard/dashboard-service.ts';
import { createDashboardStore } from './dashboard/dashboard-store.ts';
import { createGithubKeySource } from './leaks/github-keys.ts';
import { createLeaksService } from './leaks/leaks-service.ts';
import { createLeaksStore } from './leaks/leaks-store.ts';
import { createWebhooksService } from './webhooks/webhooks-service.ts';
import { createWebhooksStore } from './webhooks/webhooks-store.ts';
import { createWebhookDispatcher } from './webhooks/webhooks-dispatcher.ts';
import type { WebhookEndpoint } from './webhooks/webhooks-types.ts';
import { createImportService } from './import/import-service.ts';
import { createImportStore } from './import/import-store.ts';
import { createUnitOfWork, scopedDb } from './store/unit-of-work.ts';
import { createBudgetsService, type BudgetsService } from './budgets/budgets-service.ts';
import { createBudgetsStore } from './budgets/budgets-store.ts';

export interface ServicesDeps {
  store: Store;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  keyring: Keyring;
  clock?: Clock;
  /** Verification cache tunables (a test node that must read storage on every call sets 0). */
  keysCache?: Pick<KeysServiceDeps, 'cacheSize' | 'positiveTtlMs' | 'negativeTtlMs'>;
}

function redisReady(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error('redis not ready'));
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/**
 * The composition root: stores → services, nothing else. The server, the CLI and the tests
 * all build their services here.
 */
export function createServices({
  store,
  config,
  logger,
  metrics,
  keyring,
  clock = systemClock,
  keysCache,
}: ServicesDeps) {
  // Every store's queries join a unit of work while one is open (the import's rows).
  const db = scopedDb(store.db);
  /** Shared command connection when KEYPLANE_REDIS_URL is set (pub/sub uses `redis.duplicate()`). */
  const redis: Redis | null = config.redisUrl ? createRedis(config.redisUrl, logger) : null;
  const metaStore = createMetaStore(db);
  const audit = createAuditService({ auditStore: createAuditStore(db), clock });
  const adminTokens = createAdminTokensService({
    adminTokensStore: createAdminTokensStore(db),
    metaStore,
    audit,
    clock,
    keyPrefix: config.keyPrefix,
  });

  /** Run in reverse order by `close`: buffers flush before the store closes. */
  const closers: Array<() => Promise<void>> = [];

  /**
   * Webhooks: modules call `webhooks.emit(trx, event)` inside the transaction of the state
   * change; the dispatcher (started by `serve`, on any number of nodes) delivers the outbox.
   */
  const allowPrivateWebhooks = config.mode === 'development';
  const webhooksStore = createWebhooksStore(db, store.engine);
  // Set once the mailer and clients exist (below): who to tell about a disabled endpoint.
  let tellDisabled: (endpoint: WebhookEndpoint) => Promise<void> = async () => undefined;
  const webhookDispatcher = createWebhookDispatcher({
    webhooksStore,
    keyring,
    clock,
    logger,
    registry: metrics.registry,
    allowPrivate: allowPrivateWebhooks,
    onDisabled: (endpoint) => tellDisabled(endpoint),
  });
  const webhooks = createWebhooksService({
    webhooksStore,
    keyring,
    clock,
    audit,
    allowPrivate: allowPrivateWebhooks,
    onEmit: () => webhookDispatcher.wake(),
  });
  closers.push(() => webhookDispatcher.stop());

  /** Metering: calls queue in memory and flush in batches (≤ 250 ms); `close` flushes the rest. */
  const usage = createUsageService({
    usageStore: createUsageStore(db),
    // SQLite work is synchronous: a writer thread keeps it off the request thread.
    writer: store.engine === 'sqlite' ? createSqliteUsageWriter(config.databaseUrl) : undefined,
    priceBook: compilePriceBook(config.pricing),
    currency: config.currency,
    clock,
    logger,
    registry: metrics.registry,
  });
  closers.push(() => usage.close());

  /** Sliding-window limits: Redis when configured (global), in-process otherwise or meanwhile. */
  const ratelimit = createRateLimitService({
    config: config.rateLimits,
    clock,
    logger,
    redis,
    registry: metrics.registry,
  });

  /** Key and client changes reach every node's verification cache (Redis, PostgreSQL or SQLite). */
  const changes = createChangeFeed({ store, redis, logger });
  closers.push(() => changes.close());

  // keys ask for a client's status during verification (straight from the clients store);
  // the clients service creates keys.
  const clientsStore = createClientsStore(db);
  const clientSnapshot = clientSnapshots(clientsStore);
  // keys reserve each call's price on the client's budgets (built below, once billing exists).
  let budgets: BudgetsService | null = null;
  const keys = createKeysService({
    keysStore: createKeysStore(db),
    audit,
    clock,
    logger,
    keyPrefix: config.keyPrefix,
    getClient: clientSnapshot,
    changes,
    registry: metrics.registry,
    rateLimitGate: ratelimit.gate,
    budgetGate: {
      reserve: (auth, endpoint) => budgets!.gate.reserve(auth, endpoint),
      cancel: (hold) => budgets!.gate.cancel(hold),
    },
    emit: webhooks.emit,
    emitAlone: webhooks.emitAlone,
    ...keysCache,
  });
  closers.push(() => keys.close());
  const clients = createClientsService({
    clientsStore,
    keys,
    audit,
    clock,
    emit: webhooks.emit,
  });

  /** The credentials vault. Only development mode may fall back to provider keys in the environment (seed 04). */
  const credentials = createCredentialsService({
    credentialsStore: createCredentialsStore(db),
    metaStore,
    audit,
    keyring,
    clock,
    logger,
    providers: config.providers,
    environment: config.mode === 'development' ? process.env : null,
    getClient: clientSnapshot,
    changes,
    emit: webhooks.emit,
  });
  closers.push(() => credentials.close());
  // A permanently deleted client loses its credentials: soft-deleted, data keys shredded.
  clients.onDeleted(async (clientId) => {
    await credentials.removeAllFor(clientId, { type: 'system', id: 'client-deletion' });
  });

  /** The upstream proxy: provider calls with the vault's credential injected (SPEC §3). */
  const proxy = createProxyService({ credentials, providers: config.providers, logger });
  closers.push(() => proxy.close());

  /** Billing: invoices per client per period from usage, emailed over SMTP when configured. */
  const mailer = createMailer({ smtpUrl: config.smtpUrl, mailFrom: config.mailFrom });
  closers.push(() => mailer.close());
  const billing = createBillingService({
    billingStore: createBillingStore(db),
    clients: clientDirectory(clients),
    usage,
    mailer,
    audit,
    clock,
    settings: {
      currency: config.currency,
      invoiceEmptyClients: config.billing.invoiceEmptyClients,
      operator: config.billing.operator,
    },
    onError: (err, context) => logger.error({ err, ...context }, 'invoice delivery error'),
    emit: webhooks.emit,
  });
  clients.onDeleted((clientId) =>
    billing.forgetPaymentDetails(clientId, { type: 'system', id: 'client-deletion' }),
  );
  /** Budgets (issue 16): money limits per period, reserved on every priced call, alerts once. */
  budgets = createBudgetsService({
    budgetsStore: createBudgetsStore(db),
    audit,
    clock,
    logger,
    changes,
    priceOf: (endpoint, environment) => usage.priceOf(endpoint, environment),
    clientInfo: async (clientId) => {
      const client = await clients.get(clientId).catch(() => null);
      if (!client || client.status === 'deleted') return null;
      const details = await billing.getPaymentDetails(clientId);
      return {
        name: client.name,
        currency: details?.currency ?? config.currency,
        frequency: details?.frequency ?? 'weekly',
        alertEmail: details?.billingEmail ?? client.email ?? null,
      };
    },
    keyExists: async (clientId, keyId) =>
      keys.get(clientId, keyId).then(
        () => true,
        () => false,
      ),
    mailer,
    operatorEmail: config.billing.operator.email ?? null,
    emit: webhooks.emit,
  });
  closers.push(() => budgets!.close());
  clients.onDeleted((clientId) => budgets!.forgetClient(clientId));
  tellDisabled = async (endpoint) => {
    const to = endpoint.clientId
      ? (await clients.get(endpoint.clientId)).email
      : (config.billing.operator.email ?? null);
    if (!to || !mailer.enabled) return;
    const text = `Your webhook endpoint ${endpoint.url} (${endpoint.id}) failed every delivery for 5 days and has been disabled (${endpoint.disabledReason}). Fix it, then enable it again; pending messages will then be delivered.`;
    await mailer.send({
      to,
      subject: 'Keyplane: webhook endpoint disabled',
      text,
      html: `<p>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p>`,
    });
  };

  /** Leaked keys: secret scanning reports act on a key by its client's policy (issue 17). */
  const leaks = createLeaksService({
    leaksStore: createLeaksStore(db),
    keys,
    clients,
    audit,
    mailer,
    keyring,
    emit: webhooks.emit,
    githubKeys: createGithubKeySource({
      publicKeysUrl: config.leaks.github.publicKeysUrl,
      inline: config.leaks.github.publicKeys,
      cacheMs: config.leaks.github.cacheSeconds * 1000,
      clock,
    }),
    clock,
    logger,
    settings: {
      ...config.leaks,
      keyPrefix: config.keyPrefix,
      operatorEmail: config.leaks.operatorEmail ?? config.billing.operator.email ?? null,
    },
  });
  closers.push(() => leaks.close());
  clients.onDeleted((clientId) => leaks.forgetClient(clientId));

  /** Imports from the seeds' own systems (issue 20): through the services above only. */
  const imports = createImportService({
    importStore: createImportStore(db),
    clients,
    keys,
    billing,
    usage,
    credentials,
    audit,
    clock,
    inUnit: createUnitOfWork(store.db),
  });

  /** Web dashboard sessions (cookie → admin token or client key, re-checked every request). */
  const dashboard = createDashboardService({
    dashboardStore: createDashboardStore(db),
    audit,
    clock,
  });

  return {
    config,
    store,
    logger,
    metrics,
    clock,
    keyring,
    redis,
    audit,
    adminTokens,
    usage,
    ratelimit,
    billing,
    changes,
    keys,
    clients,
    credentials,
    proxy,
    dashboard,
    leaks,
    webhooks,
    webhookDispatcher,
    imports,
    budgets,
    /** Readiness checks for /readyz: each throws when its dependency is down. */
    readiness: {
      storage: async () => {
        if (store.engine === 'sqlite') store.sqlite!.prepare('select 1').get();
        else await store.pgPool!.query('select 1');
      },
      ...(redis && {
        // Redis down does not stop this node: it serves with local fallbacks and says so.
        redis: async () => {
          try {
            // A node that has just started is still connecting: give it a moment.
            if (redis.status !== 'ready') await redisReady(redis, 1000);
            await redis.ping();
          } catch {
            throw new Error('degraded: redis unreachable, using local fallbacks');
          }
        },
        ratelimit: () => ratelimit.readiness(),
      }),
    } as Record<string, () => Promise<void>>,
    onClose(fn: () => Promise<void>) {
      closers.push(fn);
    },
    /** Flushes every buffer, then closes the store. */
    async close() {
      for (const fn of closers.reverse()) {
        try {
          await fn();
        } catch (err) {
          logger.error({ err }, 'error while closing');
        }
      }
      if (redis) redis.disconnect();
      await store.close();
    },
  };
}

export type Services = ReturnType<typeof createServices>;
