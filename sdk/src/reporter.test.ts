import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../test/support/stores.ts';
import { startTestKeyplane, type TestKeyplane } from '../test-support/keyplane.ts';
import { Keyplane, KeyplaneError, UsageReporter } from './index.ts';

describe.each(ENGINES)('usage reporting into Keyplane (%s)', (engine) => {
  let kp: TestKeyplane;
  let admin: Keyplane;
  let token: string;

  beforeAll(async () => {
    kp = await startTestKeyplane(engine);
    admin = new Keyplane({ baseUrl: kp.url, adminToken: kp.adminToken });
    token = await kp.adminTokenWith(['usage:write']);
  });
  afterAll(async () => kp?.close());

  const byEndpoint = async (clientId: string) => {
    await kp.services.usage.flush();
    const u = await admin.usage.query({ clientId, groupBy: 'endpoint' });
    return Object.fromEntries(u.groups.map((g) => [g.group, [g.calls, g.costMicros]]));
  };

  it('prices events by the price book; test keys are metered but never priced', async () => {
    const { client, key } = await admin.clients.create({ name: 'p', email: 'p@x.test' });
    const testKey = await admin.keys.create(client.id, { environment: 'test' });
    const reporter = new UsageReporter({ baseUrl: kp.url, adminToken: token });
    const base = { clientId: client.id, method: 'POST', status: 200 };
    reporter.record({ ...base, keyId: key.id, endpoint: 'POST /api/video/analyze' });
    reporter.record({ ...base, keyId: key.id, endpoint: 'POST /api/alert' });
    reporter.record({ ...base, keyId: testKey.key.id, endpoint: 'POST /api/alert' });
    expect(reporter.pending).toBe(3);
    await reporter.close();
    expect(reporter.stats).toEqual({ sent: 3, rejected: 0, dropped: 0 });
    expect(await byEndpoint(client.id)).toEqual({
      'POST /api/video/analyze': [1, 50_000],
      'POST /api/alert': [2, 100_000],
    });
    const u = await admin.usage.query({ clientId: client.id, groupBy: 'endpoint' });
    expect(u.totals.testCalls).toBe(1);
  });

  it("skips an event naming another client's key, exactly like a missing key", async () => {
    const a = await admin.clients.create({ name: 'a', email: 'a@x.test' });
    const b = await admin.clients.create({ name: 'b', email: 'b@x.test' });
    const sdk = new Keyplane({ baseUrl: kp.url, adminToken: token });
    const event = { endpoint: 'POST /api/alert', method: 'POST', status: 200 };
    const answer = await sdk.usage.record([
      { ...event, requestId: crypto.randomUUID(), clientId: a.client.id, keyId: a.key.id },
      { ...event, requestId: crypto.randomUUID(), clientId: a.client.id, keyId: b.key.id },
      { ...event, requestId: crypto.randomUUID(), clientId: a.client.id, keyId: 'key_missing' },
    ]);
    expect(answer.recorded).toBe(1);
    expect(answer.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, 'not_found'],
      [2, 'not_found'],
    ]);
    expect(await byEndpoint(a.client.id)).toEqual({ 'POST /api/alert': [1, 100_000] });
    expect(await byEndpoint(b.client.id)).toEqual({});
  });

  it('counts a resent event once (request ids make retries safe)', async () => {
    const { client, key } = await admin.clients.create({ name: 'r', email: 'r@x.test' });
    const sdk = new Keyplane({ baseUrl: kp.url, adminToken: token });
    const event = {
      requestId: crypto.randomUUID(),
      clientId: client.id,
      keyId: key.id,
      endpoint: 'POST /api/video/buffer',
      method: 'POST',
      status: 200,
    };
    await sdk.usage.record([event]);
    await kp.services.usage.flush();
    await sdk.usage.record([event]);
    expect(await byEndpoint(client.id)).toEqual({ 'POST /api/video/buffer': [1, 10_000] });
  });

  it('needs scope usage:write; a refused batch is dropped, an unreachable Keyplane keeps it', async () => {
    const { client, key } = await admin.clients.create({ name: 's', email: 's@x.test' });
    const verifyOnly = new Keyplane({
      baseUrl: kp.url,
      adminToken: await kp.adminTokenWith(['verify']),
    });
    const event = {
      clientId: client.id,
      keyId: key.id,
      endpoint: 'POST /api/alert',
      method: 'POST',
      status: 200,
    };
    const errors: Error[] = [];
    const refused = new UsageReporter({ keyplane: verifyOnly, onError: (e) => errors.push(e) });
    refused.record(event);
    await refused.close();
    expect(refused.stats.dropped).toBe(1);
    expect(errors[0]).toBeInstanceOf(KeyplaneError);
    expect((errors[0] as KeyplaneError).code).toBe('insufficient_scope');

    const down = new UsageReporter({
      keyplane: new Keyplane({ baseUrl: 'http://127.0.0.1:1', adminToken: token, retries: 0 }),
      onError: () => {},
    });
    down.record(event);
    await down.close();
    expect(down.pending).toBe(1);
    expect(down.stats.dropped).toBe(0);
    expect(await byEndpoint(client.id)).toEqual({});
  });
});
