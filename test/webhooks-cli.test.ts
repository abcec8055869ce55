import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../src/webhooks/webhooks-types.ts';
import { runKeyplaneInProcess } from './support/cli.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { createTestDatabase, ENGINES, type TestDatabase } from './support/stores.ts';
import { standardWebhooksVerify, startReceiver } from './support/webhook-receiver.ts';

const SYSTEM = { type: 'system', id: 'test' } as const;

/** keyplane webhooks … in-process, on the store a server (the harness) shares. */
describe.each(ENGINES)('keyplane webhooks on %s', (engine) => {
  let database: TestDatabase;
  let h: Harness;
  let env: Record<string, string>;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  const cli = (...args: string[]) => runKeyplaneInProcess(['webhooks', ...args], { env });
  const json = async (...args: string[]) => {
    const r = await cli(...args, '--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  beforeAll(async () => {
    database = await createTestDatabase(engine);
    env = {
      KEYPLANE_DATABASE_URL: database.url,
      KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
      KEYPLANE_MODE: 'development',
    };
    h = await createHarness(engine, { database, env: { KEYPLANE_MODE: 'development' } });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
    await database?.drop();
  });
  const drain = async () => {
    while ((await h.services.webhookDispatcher.runOnce()) > 0);
  };

  it('lists every event type with when it is sent', async () => {
    const { data } = await json('event-types');
    expect(data.map((d: { type: string }) => d.type)).toEqual([...EVENT_TYPES]);
    const human = await cli('event-types');
    expect(human.stdout).toContain('credits.low');
    expect(human.stdout).toMatch(/20 %/);
  });

  it('adds, shows, updates, rolls and deletes an endpoint; the secret is shown on add and roll only', async () => {
    const added = await json('endpoints', 'add', '--url', rx.url, '--events', 'key.created');
    expect(added.secret).toMatch(/^whsec_/);
    const id = added.endpoint.id as string;
    const human = await cli('endpoints', 'add', '--url', rx.url, '--description', 'second');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/signing secret: whsec_/);
    const list = await cli('endpoints', 'list');
    expect(list.stdout).toContain(id);
    expect(list.stdout).not.toContain('whsec_');
    const shown = await json('endpoints', 'show', id);
    expect(shown.endpoint).toMatchObject({ id, eventTypes: ['key.created'], enabled: true });
    expect(JSON.stringify(shown)).not.toContain(added.secret);
    const off = await json(
      'endpoints',
      'update',
      id,
      '--disable',
      '--events',
      'key.created,key.revoked',
    );
    expect(off.endpoint).toMatchObject({
      enabled: false,
      eventTypes: ['key.created', 'key.revoked'],
    });
    expect((await json('endpoints', 'update', id, '--enable')).endpoint.enabled).toBe(true);
    const rolled = await json('endpoints', 'roll-secret', id, '--grace', '0');
    expect(rolled.secret).toMatch(/^whsec_/);
    expect(rolled.secret).not.toBe(added.secret);
    // The new secret signs what goes out now.
    const from = rx.received.length;
    await h.services.clients.create({ name: 'Cli', email: 'cli@example.com' }, SYSTEM);
    await drain();
    const signed = rx.received
      .slice(from)
      .filter((r) =>
        standardWebhooksVerify(rolled.secret, r.headers, r.body, Math.floor(Date.now() / 1000)),
      );
    expect(signed.map((r) => JSON.parse(r.body).type)).toEqual(['key.created']);
    expect((await cli('endpoints', 'delete', id)).code).toBe(0);
    expect((await cli('endpoints', 'show', id)).code).toBe(1);
    await cli('endpoints', 'delete', human.stdout.match(/endpoint (\S+)/)![1]!);
  });

  it("manages a client's own endpoints, lists messages and attempts, and replays one", async () => {
    const { client } = await h.services.clients.create(
      { name: 'Hooked', email: 'hooked@example.com' },
      SYSTEM,
    );
    const mine = await json(
      'endpoints',
      'add',
      '--client',
      client.id,
      '--url',
      rx.url,
      '--events',
      'client.suspended',
    );
    expect(mine.endpoint.clientId).toBe(client.id);
    expect((await json('endpoints', 'list', '--client', client.id)).data).toHaveLength(1);
    // The operator's list does not hold a client's endpoint.
    const ops = (await json('endpoints', 'list')).data as Array<{ id: string }>;
    expect(ops.map((e) => e.id)).not.toContain(mine.endpoint.id);
    await h.services.clients.suspend(client.id, SYSTEM, 'unpaid');
    await drain();
    const page = await json(
      'messages',
      'list',
      '--client',
      client.id,
      '--type',
      'client.suspended',
    );
    expect(page.data).toHaveLength(1);
    const messageId = page.data[0].id as string;
    const shown = await json('messages', 'attempts', messageId);
    expect(shown.message.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([200]);
    const human = await cli('messages', 'attempts', messageId);
    expect(human.stdout).toMatch(/200\s+delivered/);
    const replayed = await json('replay', messageId, '--client', client.id);
    expect(replayed.message.deliveries).toHaveLength(2);
    const from = rx.received.length;
    await drain();
    const again = rx.received.slice(from);
    expect(again).toHaveLength(1);
    expect(again[0]!.headers['webhook-id']).toBe(messageId);
  });

  it('exits 1 on usage errors and unknown ids, 2 on bad configuration', async () => {
    const both = await cli('endpoints', 'update', 'whep_x', '--enable', '--disable');
    expect([both.code, both.stderr]).toEqual([1, expect.stringContaining('not both')]);
    const nothing = await cli('endpoints', 'update', 'whep_x');
    expect(nothing.code).toBe(1);
    const grace = await cli('endpoints', 'roll-secret', 'whep_x', '--grace', 'soon');
    expect([grace.code, grace.stderr]).toEqual([1, expect.stringContaining('--grace')]);
    const type = await cli('messages', 'list', '--type', 'no.such');
    expect(type.code).toBe(1);
    const events = await cli('endpoints', 'add', '--url', rx.url, '--events', 'no.such');
    expect([events.code, events.stderr]).toEqual([1, expect.stringContaining('no.such')]);
    const client = await cli('endpoints', 'list', '--client', 'client_nope');
    expect([client.code, client.stderr]).toEqual([1, expect.stringContaining('not found')]);
    const missing = await cli('endpoints', 'add');
    expect(missing.code).toBe(1);
    const config = await runKeyplaneInProcess(['webhooks', 'endpoints', 'list'], {
      env: { ...env, KEYPLANE_MODE: 'sideways' },
    });
    expect(config.code).toBe(2);
  });
});
