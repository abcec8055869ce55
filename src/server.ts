import type { AddressInfo } from 'node:net';
import { createBillingScheduler } from './billing/index.ts';
import type { Config } from './config.ts';
import { buildApp, type App } from './http/app.ts';
import type { Logger } from './infra/logger.ts';
import { tuneV8ForServing } from './infra/v8-tuning.ts';
import { openRuntime } from './runtime.ts';
import type { Services } from './services.ts';

export interface RunningServer {
  app: App;
  services: Services;
  url: string;
  /** Stops accepting, finishes in-flight requests, flushes buffers, closes the store. */
  stop(): Promise<void>;
}

export interface StartOptions {
  announce?: (text: string) => void;
  /** How often expired dashboard sessions are deleted (default hourly). */
  sessionSweepMs?: number;
  /** How often key.expiring (and late credits.low) are looked for (default every minute). */
  noticeSweepMs?: number;
}

/** parse config → open store → migrate → create services → start http. */
export async function startServer(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningServer> {
  tuneV8ForServing();
  const services = await openRuntime(config, logger);
  const boot = await services.adminTokens.bootstrap();
  if (boot)
    (options.announce ?? ((t: string) => process.stdout.write(t)))(bootstrapText(boot.token));
  let app: App;
  try {
    app = await buildApp({ services });
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await services.close();
    throw err;
  }
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  logger.info({ url, store: services.store.describe, mode: config.mode }, 'keyplane listening');
  const background = startBackground(config, logger, services, options);
  let stopping: Promise<void> | null = null;
  return {
    app,
    services,
    url,
    stop: () =>
      (stopping ??= (async () => {
        await background.stop();
        await app.close();
        await services.close();
      })()),
  };
}

function bootstrapText(token: string): string {
  return [
    '',
    '='.repeat(78),
    ' Keyplane: bootstrap admin token (shown once, it cannot be retrieved later)',
    '',
    `   ${token}`,
    '',
    ' Use it as "Authorization: Bearer <token>" on /admin/v1, or create more with',
    ' keyplane admin-tokens create --name NAME',
    '='.repeat(78),
    '',
    '',
  ].join('\n');
}

/**
 * The jobs a serving node runs beside HTTP: the invoice scheduler, the webhook dispatcher, the
 * sweeps of expired dashboard sessions and of key notices. `stop` ends the scheduler and the
 * sweeps and waits for a sweep in flight.
 */
function startBackground(
  config: Config,
  logger: Logger,
  services: Services,
  options: StartOptions,
) {
  // The weekly invoice job runs in `serve` only (never in CLI commands or tests' harness).
  const billingScheduler = createBillingScheduler({
    billing: services.billing,
    store: services.store,
    logger,
    clock: services.clock,
    schedule: config.billing.schedule,
    runAfterMs: config.billing.runAfterMinutes * 60_000,
    checkIntervalMs: config.billing.checkIntervalSeconds * 1000,
    send: config.billing.send,
  });
  billingScheduler.start();
  // Every node delivers webhooks (unless configured not to): row leases keep each delivery
  // to one of them.
  if (config.webhooks.dispatch) services.webhookDispatcher.start();
  const sweeper = sweepSessions(logger, services, options.sessionSweepMs ?? 3_600_000);
  const notices = sweepNotices(logger, services, options.noticeSweepMs ?? 60_000);
  return {
    async stop() {
      await billingScheduler.stop();
      clearInterval(sweeper);
      await notices.stop();
    },
  };
}

/**
 * Expired dashboard sessions are refused and deleted on sight, and swept at each sign-in;
 * this removes the ones nobody comes back to even when nobody signs in.
 */
function sweepSessions(logger: Logger, services: Services, everyMs: number) {
  const sweeper = setInterval(() => {
    services.dashboard.expire().then(
      (n) => {
        if (n) logger.info({ sessions: n }, 'expired dashboard sessions deleted');
      },
      (err: unknown) => logger.warn({ err }, 'expired dashboard sessions: sweep failed'),
    );
  }, everyMs);
  sweeper.unref();
  return sweeper;
}

/**
 * key.expiring notices and any credits.low a stopped node left unwritten: every node scans;
 * markers in storage send each event once.
 */
function sweepNotices(logger: Logger, services: Services, everyMs: number) {
  let noticing: Promise<unknown> | null = null;
  const noticer = setInterval(() => {
    noticing ??= services.keys
      .sweepNotices()
      .catch((err: unknown) => logger.warn({ err }, 'key notices: sweep failed'))
      .finally(() => (noticing = null));
  }, everyMs);
  noticer.unref();
  return {
    async stop() {
      clearInterval(noticer);
      await noticing;
    },
  };
}
