import type { AddressInfo } from 'node:net';
import { createBillingScheduler } from './billing/billing-scheduler.ts';
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

/** parse config → open store → migrate → create services → start http. */
export async function startServer(
  config: Config,
  logger: Logger,
  options: {
    announce?: (text: string) => void;
    /** How often expired dashboard sessions are deleted (default hourly). */
    sessionSweepMs?: number;
    /** How often key.expiring (and late credits.low) are looked for (default every minute). */
    noticeSweepMs?: number;
  } = {},
): Promise<RunningServer> {
  tuneV8ForServing();
  const services = await openRuntime(config, logger);
  const boot = await services.adminTokens.bootstrap();
  if (boot) {
    (options.announce ?? ((t: string) => process.stdout.write(t)))(
      [
        '',
        '='.repeat(78),
        ' Keyplane: bootstrap admin token (shown once, it cannot be retrieved later)',
        '',
        `   ${boot.token}`,
        '',
        ' Use it as "Authorization: Bearer <token>" on /admin/v1, or create more with',
        ' keyplane admin-tokens create --name NAME',
        '='.repeat(78),
        '',
        '',
      ].join('\n'),
    );
  }
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
  // Expired dashboard sessions are refused and deleted on sight, and swept at each sign-in;
  // this removes the ones nobody comes back to even when nobody signs in.
  const sweeper = setInterval(() => {
    services.dashboard.expire().then(
      (n) => {
        if (n) logger.info({ sessions: n }, 'expired dashboard sessions deleted');
      },
      (err: unknown) => logger.warn({ err }, 'expired dashboard sessions: sweep failed'),
    );
  }, options.sessionSweepMs ?? 3_600_000);
  sweeper.unref();
  // key.expiring notices and any credits.low a stopped node left unwritten: every node scans;
  // markers in storage send each event once.
  let noticing: Promise<unknown> | null = null;
  const noticer = setInterval(() => {
    noticing ??= services.keys
      .sweepNotices()
      .catch((err: unknown) => logger.warn({ err }, 'key notices: sweep failed'))
      .finally(() => (noticing = null));
  }, options.noticeSweepMs ?? 60_000);
  noticer.unref();
  let stopping: Promise<void> | null = null;
  return {
    app,
    services,
    url,
    stop: () =>
      (stopping ??= (async () => {
        await billingScheduler.stop();
        clearInterval(sweeper);
        clearInterval(noticer);
        await noticing;
        await app.close();
        await services.close();
      })()),
  };
}
