import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { previousPeriod } from '../src/billing/billing-fns.ts';
import { createLogger } from '../src/infra/logger.ts';
import { loadKeyring } from '../src/infra/master-key.ts';
import { createMetrics } from '../src/infra/metrics.ts';
import { createServices, type Services } from '../src/services.ts';
import { createStore } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { TEST_MASTER_KEY, testConfig } from './support/harness.ts';
import { startKeyplane, type ServeProcess } from './support/keyplane-process.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

/**
 * The weekly job as `keyplane serve` runs it: two nodes on one store, checking every second.
 * Last week is invoiced once (one invoice and one email per client); on PostgreSQL only the
 * advisory-lock holder runs it, so the run is audited exactly once.
 */
describe.each(ENGINES)('scheduled invoice runs in two keyplane serve processes on %s', (engine) => {
  let database: TestDatabase;
  let smtp: TestSmtpServer;
  let services: Services;
  const nodes: ServeProcess[] = [];
  // The nodes run on the real clock. runAfterMinutes moves the moment they invoice "last week"
  // for to the middle of the previous week, 3.5 days from either Monday 00:00 UTC: the week they
  // pick is the one picked here even if the run crosses a week boundary.
  const now = Date.now();
  const thisWeekStart = previousPeriod('weekly', new Date(now)).end.getTime();
  const runAfterMinutes = Math.ceil((now - thisWeekStart + 3.5 * 86_400_000) / 60_000);
  const week = previousPeriod('weekly', new Date(now - runAfterMinutes * 60_000));
  const clientIds: string[] = [];

  beforeAll(async () => {
    smtp = await startSmtpServer();
    database = await createTestDatabase(engine);
    const file = {
      pricing: { 'POST /api/video/analyze': '0.05' },
      billing: { checkIntervalSeconds: 0.2, runAfterMinutes },
    };
    const configFile = join(database.dir, 'keyplane.config.json');
    writeFileSync(configFile, JSON.stringify(file));
    const config = testConfig(database, { file });
    const store = createStore(config.databaseUrl);
    await migrateToLatest(store.db);
    services = createServices({
      store,
      config,
      logger: createLogger({ level: 'silent' }),
      metrics: createMetrics({ defaults: false }),
      keyring: loadKeyring(config),
    });
    for (let c = 0; c < 3; c++) {
      const { client, key } = await services.clients.create(
        { name: `Scheduled ${c}`, email: `sched${c}@example.com` },
        { type: 'system', id: 'test' },
      );
      clientIds.push(client.id);
      for (let i = 0; i <= c; i++) {
        services.usage.record({
          requestId: `req_${randomBytes(12).toString('hex')}`,
          clientId: client.id,
          keyId: key.id,
          endpoint: 'POST /api/video/analyze',
          method: 'POST',
          status: 200,
          environment: 'live',
          durationMs: 1,
          at: new Date(week.start.getTime() + 86_400_000 + i * 1000),
        });
      }
    }
    await services.usage.flush();
    const env = {
      KEYPLANE_DATABASE_URL: config.databaseUrl,
      KEYPLANE_DATA_DIR: database.dir,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_CONFIG: configFile,
      KEYPLANE_SMTP_URL: smtp.url,
      KEYPLANE_MAIL_FROM: 'billing@operator.example',
      KEYPLANE_LOG_LEVEL: 'debug', // the "billing check" lines
    };
    nodes.push(...(await Promise.all([startKeyplane({ env }), startKeyplane({ env })])));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await services?.close();
    await smtp?.close();
    await database?.drop();
  });

  it('invoices last week once and emails each invoice once', async () => {
    await waitFor(
      async () =>
        (await services.billing.list({ period: week.id, status: 'sent' })).data.length === 3,
      'three sent invoices',
      { timeoutMs: 60_000 },
    );
    // Two more checks of each node go by: nothing is issued or sent twice.
    const checks = (n: ServeProcess) => n.logs().filter((l) => l.msg === 'billing check').length;
    const seen = nodes.map(checks);
    await waitFor(
      () => nodes.every((n, i) => checks(n) >= seen[i]! + 2),
      'two more billing checks on each node',
      { timeoutMs: 60_000 },
    );
    const invoices = (await services.billing.list({ period: week.id })).data;
    expect(invoices.map((i) => i.clientId).sort()).toEqual([...clientIds].sort());
    expect(invoices.every((i) => i.status === 'sent')).toBe(true);
    expect(invoices.map((i) => i.number).sort()).toEqual(
      [1, 2, 3].map((n) => `INV-${week.id}-000${n}`),
    );
    for (const [c, id] of clientIds.entries()) {
      expect(invoices.find((i) => i.clientId === id)!.totalMicros).toBe((c + 1) * 50_000);
      expect(smtp.to(`sched${c}@example.com`)).toHaveLength(1);
    }
    expect(smtp.received).toHaveLength(3);
    expect(await services.billing.runFinished(week.id)).toBe(true);
    const runs = (await services.audit.list({ action: 'invoices.run', limit: 100 })).data.filter(
      (e) => e.targetId === week.id,
    );
    if (engine === 'postgres') expect(runs).toHaveLength(1);
    else expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.reduce((n, e) => n + Number(e.data.created), 0)).toBe(3);
    for (const n of nodes) expect(n.child.exitCode).toBeNull();
  }, 150_000);
});
