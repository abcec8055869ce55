import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERT_MAIL_TRIES } from '../src/budgets/budgets-alert-mail.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, type Harness, type HarnessOptions } from './support/harness.ts';
import { startSmtpServer, type TestSmtpServer } from './support/smtp.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';

/**
 * Budget alert emails are queued in the database with the claim: the node that claimed an
 * alert may stop before its email went out, and another node sends it when it is due.
 */
describe.each(ENGINES)('durable budget alert emails on %s', (engine) => {
  let database: TestDatabase;
  let smtp: TestSmtpServer;
  const open: Harness[] = [];
  beforeAll(async () => {
    smtp = await startSmtpServer();
    database = await createTestDatabase(engine);
  });
  afterAll(async () => {
    for (const h of open) await h.close();
    await database?.drop();
    await smtp?.close();
  });

  function node(clock: ReturnType<typeof createManualClock>) {
    const options: HarnessOptions = {
      database,
      clock,
      env: {
        KEYPLANE_SMTP_URL: smtp.url,
        KEYPLANE_MAIL_FROM: 'Keyplane <noreply@keyplane.example>',
      },
      file: { pricing: { '*': 0 }, billing: { schedule: 'off' } },
    };
    return createHarness(engine, options);
  }
  /** A client with a hard 0.10 budget of which 60 % is spent: the 50 % alert is due. */
  async function budgetAtSixtyPercent(h: Harness, name: string, email: string) {
    const actor = { type: 'system' as const, id: 'test' };
    const { client } = await h.services.clients.create({ name, email }, actor);
    const budget = await h.services.budgets.create(
      client.id,
      { amountMicros: 100_000, period: 'month', mode: 'hard' },
      actor,
    );
    await h.services.store.db
      .insertInto('budget_spend')
      .values({
        budget_id: budget.id,
        period_start: budget.current.periodStart,
        client_id: client.id,
        spent_micros: 60_000,
      })
      .execute();
    return budget;
  }
  const mailsOf = (h: Harness, budgetId: string) =>
    h.services.store.db
      .selectFrom('budget_alert_mails')
      .selectAll()
      .where('budget_id', '=', budgetId)
      .execute();

  it('an alert email its node could not send is sent by another node once due, once', async () => {
    const clock = createManualClock(new Date());
    // Node A claims the 50 % alert; the mail server refuses every try of its delivery (451).
    const a = await node(clock);
    const budget = await budgetAtSixtyPercent(a, 'Relayed', 'owner@relayed.example');
    smtp.failNext('owner@relayed.example', ALERT_MAIL_TRIES);
    await a.services.budgets.sweepAlerts();
    const [queued] = await mailsOf(a, budget.id);
    expect(queued).toMatchObject({ attempts: ALERT_MAIL_TRIES, sent_at: null, given_up_at: null });
    expect(queued!.last_error).toMatch(/451/);
    expect(smtp.to('owner@relayed.example')).toHaveLength(0);
    // Not due yet: a sweep now sends nothing.
    await a.services.budgets.sweepAlerts();
    expect(smtp.rcptTimes('owner@relayed.example')).toHaveLength(ALERT_MAIL_TRIES);
    await a.close();

    // Node B, after the back-off: it sends the email A queued, once, even swept twice at once.
    clock.advance(3_600_000);
    const b = await node(clock);
    await Promise.all([b.services.budgets.sweepAlerts(), b.services.budgets.sweepAlerts()]);
    expect(smtp.to('owner@relayed.example')).toHaveLength(1);
    expect(smtp.to('owner@relayed.example')[0]!.raw).toContain('budget 50% reached');
    const [sent] = await mailsOf(b, budget.id);
    expect(sent).toMatchObject({
      attempts: ALERT_MAIL_TRIES + 1,
      next_try_at: null,
      given_up_at: null,
    });
    expect(sent!.sent_at).not.toBeNull();
    await b.services.budgets.sweepAlerts();
    expect(smtp.rcptTimes('owner@relayed.example')).toHaveLength(ALERT_MAIL_TRIES + 1);
    await b.close();
  });

  it('a permanent refusal gives the email up with its error, and it is never tried again', async () => {
    const clock = createManualClock(new Date());
    const h = await node(clock);
    open.push(h);
    const budget = await budgetAtSixtyPercent(h, 'Refused', 'owner@refused.example');
    smtp.rejectAlways('owner@refused.example');
    await h.services.budgets.sweepAlerts();
    const [row] = await mailsOf(h, budget.id);
    expect(row).toMatchObject({ attempts: 1, next_try_at: null, sent_at: null });
    expect(row!.given_up_at).not.toBeNull();
    expect(row!.last_error).toMatch(/550/);
    clock.advance(86_400_000);
    await h.services.budgets.sweepAlerts();
    expect(smtp.rcptTimes('owner@refused.example')).toHaveLength(1);
  });
});
