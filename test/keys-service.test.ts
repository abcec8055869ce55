import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

const actor = { type: 'system' as const, id: 'test' };

describe.each(ENGINES)('keys service on %s', (engine) => {
  let h: Harness;
  let clock: ReturnType<typeof createManualClock>;
  // Each test its own server and clock: one test advances the clock, another closes the service.
  beforeEach(async () => {
    clock = createManualClock(new Date('2025-10-15T12:00:00.000Z'));
    h = await createHarness(engine, { clock });
  });
  afterEach(async () => h?.close());

  it('expires keys at their deadline (expiresInSeconds)', async () => {
    const { client } = await h.services.clients.create(
      { name: 'Exp', email: 'e@example.com' },
      actor,
    );
    const { apiKey } = await h.services.keys.create(client.id, { expiresInSeconds: 2 }, actor);
    expect((await h.services.keys.verify(apiKey)).code).toBe('VALID');
    clock.advance(2001);
    expect((await h.services.keys.verify(apiKey)).code).toBe('EXPIRED');
  });

  it('refills credits at the start of each period, once', async () => {
    const { client } = await h.services.clients.create(
      { name: 'Refill', email: 'r@example.com' },
      actor,
    );
    const { apiKey } = await h.services.keys.create(
      client.id,
      { credits: 2, refill: { interval: 'daily', amount: 3 } },
      actor,
    );
    expect((await h.services.keys.verify(apiKey)).remaining).toBe(1);
    expect((await h.services.keys.verify(apiKey)).remaining).toBe(0);
    expect((await h.services.keys.verify(apiKey)).code).toBe('USAGE_EXCEEDED');
    clock.advance(24 * 3600 * 1000);
    const results = await Promise.all([1, 2, 3, 4].map(() => h.services.keys.verify(apiKey)));
    expect(results.filter((r) => r.valid)).toHaveLength(3);
    expect(results.filter((r) => r.code === 'USAGE_EXCEEDED')).toHaveLength(1);
  });

  it('keeps last_used_at fresh without a write per request', async () => {
    const { client, key, apiKey } = await h.services.clients.create(
      { name: 'Used', email: 'u@example.com' },
      actor,
    );
    expect(key.lastUsedAt).toBeNull();
    for (let i = 0; i < 20; i++) await h.services.keys.verify(apiKey);
    // Nothing written yet: the touch is batched.
    expect((await h.services.keys.get(client.id, key.id)).lastUsedAt).toBeNull();
    await h.services.keys.close(); // flushes pending touches (also what a graceful stop does)
    expect((await h.services.keys.get(client.id, key.id)).lastUsedAt).toBe(
      clock.now().toISOString(),
    );
  });

  it('audits every change to keys and clients', async () => {
    const { client, key } = await h.services.clients.create(
      { name: 'Aud', email: 'a@example.com' },
      actor,
    );
    await h.services.keys.revoke(client.id, key.id, actor, 'testing');
    await h.services.keys.reactivate(client.id, key.id, actor);
    await h.services.keys.roll(client.id, key.id, actor, 0);
    await h.services.clients.suspend(client.id, actor);
    await h.services.clients.reactivate(client.id, actor);
    await h.services.clients.delete(client.id, actor);
    const actions = (await h.services.audit.list({ clientId: client.id, limit: 100 })).data
      .map((e) => e.action)
      .reverse();
    expect(actions).toEqual([
      'client.created',
      'key.created',
      'key.revoked',
      'key.reactivated',
      'key.rolled',
      'client.suspended',
      'client.reactivated',
      'client.deleted',
    ]);
    expect((await h.services.audit.verify()).ok).toBe(true);
  });

  // Malformed input (a bad CIDR, a refill without credits) is the schema's to refuse: see
  // src/keys/keys-input.test.ts and the HTTP and CLI faces (clients-keys, cli-exit-codes).
  it('refuses what its rules forbid: a key for an unknown client, a key born expired', async () => {
    const { client } = await h.services.clients.create(
      { name: 'Bad', email: 'b@example.com' },
      actor,
    );
    await expect(
      h.services.keys.create(client.id, { expiresAt: '2025-10-15T11:59:59.000Z' }, actor),
    ).rejects.toMatchObject({
      code: 'validation_failed',
      message: 'expiresAt must be in the future',
    });
    await expect(
      h.services.keys.create('client_000000000000000000000000', {}, actor),
    ).rejects.toThrow(/not found/);
  });
});
