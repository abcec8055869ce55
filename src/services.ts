import { createAdminTokensService, createAdminTokensStore } from './admin-tokens/index.ts';
import { type AuditService, createAuditService, createAuditStore } from './audit/index.ts';
import {
  type BillingService,
  type BillingSettings,
  clientDirectory,
  createBillingService,
  createBillingStore,
} from './billing/index.ts';
import { createMailer, type Mailer } from './infra/mailer.ts';
import type { Config } from './config.ts';
import type { Logger } from './infra/logger.ts';
import { createRedis, type Redis } from './infra/redis.ts';
import { createChangeFeed, type ChangeFeed } from './infra/change-feed.ts';
import {
  createClientReads,
  createClientsService,
  createClientsStore,
  type ClientReads,
} from './clients/index.ts';
import { createCredentialsService, createCredentialsStore } from './credentials/index.ts';
import { createProxyService } from './proxy/index.ts';
import {
  createKeysService,
  createKeysStore,
  keyExists,
  type KeysServiceDeps,
  type KeysStore,
} from './keys/index.ts';
import type { Metrics } from './infra/metrics.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import type { Keyring } from './infra/master-key.ts';
import type { Store } from './store/create-db.ts';
import {
  compilePriceBook,
  createSqliteUsageWriter,
  createUsageService,
  createUsageStore,
  type UsageService,
} from './usage/index.ts';
import { createRateLimitService, type RateLimitService } from './ratelimit/index.ts';
import { createMetaStore } from './store/meta-store.ts';
import { createDashboardService, createDashboardStore } from './dashboard/index.ts';
import { createGithubKeySource, createLeaksService, createLeaksStore } from './leaks/index.ts';
import {
  createWebhookDispatcher,
  createWebhooksService,
  createWebhooksStore,
  type WebhookEndpoint,
} from './webhooks/index.ts';
import { createImportService, createImportStore } from './import/index.ts';
import { createUnitOfWork, scopedDb } from './store/unit-of-work.ts';
import { createBudgetsService, createBudgetsStore } from './budgets/index.ts';

export interface ServicesDeps {
  store: Store;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  keyring: Keyring;
  clock?: Clock;
  /**
   * Verification cache tunables (a test node that must read storage on every call sets 0; a
   * test that waits for keys' last use to reach storage shortens `touchFlushMs`, 5 s).
   */
  keysCache?: Pick<
    KeysServiceDeps,
    'cacheSize' | 'positiveTtlMs' | 'negativeTtlMs' | 'touchFlushMs'
  >;
  /**
   * Invoice e-mail retry waits: `backoffMs` between the tries of one send (500 ms, doubling)
   * and `retryBaseMs` before the scheduler's later retries (5 min). Tests of the retry rules
   * shorten the real waits; the server keeps the defaults.
   */
  billingRetry?: Pick<BillingSettings, 'backoffMs' | 'retryBaseMs'>;
  /** The SQLite usage writer thread's module (default: the sources through tsx; see usage-writer.ts). */
  usageWriterEntry?: URL;
}

/** What every part of the composition shares: storage, settings, the audit log, the mailer. */
interface Base {
  store: Store;
  db: ReturnType<typeof scopedDb>;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  keyring: Keyring;
  clock: Clock;
  redis: Redis | null;
  audit: AuditService;
  mailer: Mailer;
  metaStore: ReturnType<typeof createMetaStore>;
  changes: ChangeFeed;
  /** Run in reverse order by `close`: buffers flush before the store closes. */
  closers: Array<() => Promise<void>>;
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
 * all build their services here. Each service is built once its dependencies exist: reading
 * clients needs only their store, so keys, billing and budgets are built before the clients
 * service (which creates keys), and nothing is bound late.
 */
export function createServices(deps: ServicesDeps) {
  const base = createBase(deps);
  const { db, config, clock, audit, closers } = base;
  const adminTokens = createAdminTokensService({
    adminTokensStore: createAdminTokensStore(db),
    metaStore: base.metaStore,
    audit,
    clock,
    keyPrefix: config.keyPrefix,
  });
  const clientsStore = createClientsStore(db);
  const clientReads = createClientReads(clientsStore);
  const { webhooks, webhookDispatcher } = buildWebhooks(base, clientReads);
  const { usage, ratelimit } = buildMetering(base, deps.usageWriterEntry);
  const billing = buildBilling(base, clientReads, usage, webhooks.emit, deps.billingRetry);
  const keysStore = createKeysStore(db);
  const budgets = buildBudgets(base, {
    usage,
    clientReads,
    billing,
    keysStore,
    emit: webhooks.emit,
  });
  const keys = createKeysService({
    keysStore,
    audit,
    clock,
    logger: base.logger,
    keyPrefix: config.keyPrefix,
    getClient: clientReads.snapshot,
    changes: base.changes,
    registry: base.metrics.registry,
    rateLimitGate: ratelimit.gate,
    budgetGate: budgets.gate,
    emit: webhooks.emit,
    emitAlone: webhooks.emitAlone,
    ...deps.keysCache,
  });
  closers.push(() => keys.close());
  const clients = createClientsService({ clientsStore, keys, audit, clock, emit: webhooks.emit });
  const rest = buildVault(base, clientReads, webhooks.emit);
  const leaks = buildLeaks(base, { keys, clients, emit: webhooks.emit });
  // A permanently deleted client loses its credentials (soft-deleted, data keys shredded),
  // payment details, budgets and leak policies.
  const system = { type: 'system' as const, id: 'client-deletion' };
  clients.onDeleted(async (clientId) => {
    await rest.credentials.removeAllFor(clientId, system);
  });
  clients.onDeleted((clientId) => billing.forgetPaymentDetails(clientId, system));
  clients.onDeleted((clientId) => budgets.forgetClient(clientId));
  clients.onDeleted((clientId) => leaks.forgetClient(clientId));
  /** Imports from the seeds' own systems (issue 20): through the services above only. */
  const imports = createImportService({
    importStore: createImportStore(db),
    ...{ clients, keys, billing, usage, credentials: rest.credentials, audit, clock },
    inUnit: createUnitOfWork(base.store.db),
  });
  /** Web dashboard sessions (cookie → admin token or client key, re-checked every request). */
  const dashboard = createDashboardService({
    dashboardStore: createDashboardStore(db),
    audit,
    clock,
  });
  return {
    ...{ config, store: base.store, logger: base.logger, metrics: base.metrics, clock },
    ...{ keyring: base.keyring, redis: base.redis, audit, adminTokens, usage, ratelimit, billing },
    ...{ changes: base.changes, keys, clients, ...rest, dashboard, leaks, webhooks },
    ...{ webhookDispatcher, imports, budgets },
    /** Readiness checks for /readyz: each throws when its dependency is down. */
    readiness: readiness(base, ratelimit),
    onClose(fn: () => Promise<void>) {
      closers.push(fn);
    },
    /** Flushes every buffer, then closes the store. */
    close: () => closeAll(base),
  };
}

function createBase({
  store,
  config,
  logger,
  metrics,
  keyring,
  clock = systemClock,
}: ServicesDeps): Base {
  // Every store's queries join a unit of work while one is open (the import's rows).
  const db = scopedDb(store.db);
  /** Shared command connection when KEYPLANE_REDIS_URL is set (pub/sub uses `redis.duplicate()`). */
  const redis: Redis | null = config.redisUrl ? createRedis(config.redisUrl, logger) : null;
  const closers: Array<() => Promise<void>> = [];
  const audit = createAuditService({ auditStore: createAuditStore(db), clock });
  const mailer = createMailer({ smtpUrl: config.smtpUrl, mailFrom: config.mailFrom });
  closers.push(() => mailer.close());
  /** Key and client changes reach every node's verification cache (Redis, PostgreSQL or SQLite). */
  const changes = createChangeFeed({ store, redis, logger });
  closers.push(() => changes.close());
  const metaStore = createMetaStore(db);
  return {
    store,
    db,
    config,
    logger,
    metrics,
    keyring,
    clock,
    redis,
    audit,
    mailer,
    metaStore,
    changes,
    closers,
  } satisfies Base;
}

/**
 * Webhooks: modules call `webhooks.emit(trx, event)` inside the transaction of the state
 * change; the dispatcher (started by `serve`, on any number of nodes) delivers the outbox.
 */
function buildWebhooks(base: Base, clientReads: ClientReads) {
  const { db, store, config, keyring, clock, audit } = base;
  const allowPrivate = config.mode === 'development';
  const webhooksStore = createWebhooksStore(db, store.engine);
  const webhookDispatcher = createWebhookDispatcher({
    webhooksStore,
    keyring,
    clock,
    logger: base.logger,
    registry: base.metrics.registry,
    allowPrivate,
    onDisabled: disabledNotice(base, clientReads),
  });
  const webhooks = createWebhooksService({
    webhooksStore,
    keyring,
    clock,
    audit,
    allowPrivate,
    onEmit: () => webhookDispatcher.wake(),
  });
  base.closers.push(() => webhookDispatcher.stop());
  return { webhooks, webhookDispatcher };
}

/** Who to tell about a disabled endpoint: its client, or the operator for operator endpoints. */
function disabledNotice({ mailer, config }: Base, clientReads: ClientReads) {
  return async (endpoint: WebhookEndpoint): Promise<void> => {
    const to = endpoint.clientId
      ? (await clientReads.get(endpoint.clientId)).email
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
}

/** Metering and rate limits. */
function buildMetering(
  base: Base,
  writerEntry?: URL,
): { usage: UsageService; ratelimit: RateLimitService } {
  const { store, config, clock, logger, metrics } = base;
  const budgetHolds = createBudgetsStore(base.db);
  /** Calls queue in memory and flush in batches (≤ 250 ms); `close` flushes the rest. */
  const usage = createUsageService({
    usageStore: createUsageStore(base.db),
    // SQLite work is synchronous: a writer thread keeps it off the request thread.
    writer:
      store.engine === 'sqlite'
        ? createSqliteUsageWriter(config.databaseUrl, writerEntry)
        : undefined,
    priceBook: compilePriceBook(config.pricing),
    currency: config.currency,
    clock,
    logger,
    registry: metrics.registry,
    // A batch settles the budget holds of the calls it meters, in its transaction.
    ledgerWrites: (entries) => budgetHolds.settlementWrites(entries, clock.now().toISOString()),
  });
  base.closers.push(() => usage.close());
  /** Sliding-window limits: Redis when configured (global), in-process otherwise or meanwhile. */
  const ratelimit = createRateLimitService({
    config: config.rateLimits,
    clock,
    logger,
    redis: base.redis,
    registry: metrics.registry,
  });
  return { usage, ratelimit };
}

/** Billing: invoices per client per period from usage, emailed over SMTP when configured. */
function buildBilling(
  base: Base,
  clientReads: ClientReads,
  usage: UsageService,
  emit: ReturnType<typeof createWebhooksService>['emit'],
  billingRetry: ServicesDeps['billingRetry'],
) {
  const { config, logger } = base;
  return createBillingService({
    billingStore: createBillingStore(base.db),
    clients: clientDirectory(clientReads),
    usage,
    mailer: base.mailer,
    audit: base.audit,
    clock: base.clock,
    settings: {
      currency: config.currency,
      invoiceEmptyClients: config.billing.invoiceEmptyClients,
      operator: config.billing.operator,
      backoffMs: config.billing.sendBackoffMs,
      ...billingRetry,
    },
    onError: (err, context) => logger.error({ err, ...context }, 'invoice delivery error'),
    emit,
  });
}

/** What budgets need of a client: its name, currency, invoice frequency and alert address. */
function budgetClientInfo(clientReads: ClientReads, billing: BillingService, currency: string) {
  return async (clientId: string) => {
    const client = await clientReads.get(clientId).catch(() => null);
    if (!client || client.status === 'deleted') return null;
    const details = await billing.getPaymentDetails(clientId);
    return {
      name: client.name,
      currency: details?.currency ?? currency,
      frequency: details?.frequency ?? ('weekly' as const),
      alertEmail: details?.billingEmail ?? client.email ?? null,
    };
  };
}

/** Budgets (issue 16): money limits per period, reserved on every priced call, alerts once. */
function buildBudgets(
  base: Base,
  parts: {
    usage: UsageService;
    clientReads: ClientReads;
    billing: BillingService;
    keysStore: KeysStore;
    emit: ReturnType<typeof createWebhooksService>['emit'];
  },
) {
  const { config } = base;
  const budgets = createBudgetsService({
    budgetsStore: createBudgetsStore(base.db),
    audit: base.audit,
    clock: base.clock,
    logger: base.logger,
    changes: base.changes,
    priceOf: (endpoint, environment) => parts.usage.priceOf(endpoint, environment),
    clientInfo: budgetClientInfo(parts.clientReads, parts.billing, config.currency),
    keyExists: keyExists(parts.keysStore),
    mailer: base.mailer,
    operatorEmail: config.billing.operator.email ?? null,
    emit: parts.emit,
    reservationTimeoutMs: config.budgets.reservationTimeoutSeconds * 1000,
  });
  base.closers.push(() => budgets.close());
  return budgets;
}

/**
 * The credentials vault (only development mode may fall back to provider keys in the
 * environment, seed 04) and the upstream proxy that injects them (SPEC §3).
 */
function buildVault(
  base: Base,
  clientReads: ClientReads,
  emit: ReturnType<typeof createWebhooksService>['emit'],
) {
  const { config, closers } = base;
  const credentials = createCredentialsService({
    credentialsStore: createCredentialsStore(base.db),
    metaStore: base.metaStore,
    audit: base.audit,
    keyring: base.keyring,
    clock: base.clock,
    logger: base.logger,
    providers: config.providers,
    environment: config.mode === 'development' ? process.env : null,
    getClient: clientReads.snapshot,
    changes: base.changes,
    emit,
  });
  closers.push(() => credentials.close());
  const proxy = createProxyService({
    credentials,
    providers: config.providers,
    logger: base.logger,
  });
  closers.push(() => proxy.close());
  return { credentials, proxy };
}

/** Leaked keys: secret scanning reports act on a key by its client's policy (issue 17). */
function buildLeaks(
  base: Base,
  parts: Pick<Parameters<typeof createLeaksService>[0], 'keys' | 'clients' | 'emit'>,
) {
  const { config, clock } = base;
  const leaks = createLeaksService({
    leaksStore: createLeaksStore(base.db),
    ...parts,
    audit: base.audit,
    mailer: base.mailer,
    keyring: base.keyring,
    githubKeys: createGithubKeySource({
      publicKeysUrl: config.leaks.github.publicKeysUrl,
      inline: config.leaks.github.publicKeys,
      cacheMs: config.leaks.github.cacheSeconds * 1000,
      clock,
    }),
    clock,
    logger: base.logger,
    settings: {
      ...config.leaks,
      keyPrefix: config.keyPrefix,
      operatorEmail: config.leaks.operatorEmail ?? config.billing.operator.email ?? null,
    },
  });
  base.closers.push(() => leaks.close());
  return leaks;
}

/** Readiness checks for /readyz: each throws when its dependency is down. */
function readiness({ store, redis }: Base, ratelimit: RateLimitService) {
  return {
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
  } as Record<string, () => Promise<void>>;
}

async function closeAll({ closers, logger, redis, store }: Base): Promise<void> {
  for (const fn of closers.reverse()) {
    try {
      await fn();
    } catch (err) {
      logger.error({ err }, 'error while closing');
    }
  }
  if (redis) redis.disconnect();
  await store.close();
}

export type Services = ReturnType<typeof createServices>;
