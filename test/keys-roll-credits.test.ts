import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';
import { createStore } from '../src/store/create-db.ts';
import { migrateToLatest } from '../src/store/migrate.ts';
import { migrations } from '../src/store/migrations/index.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { createTestDatabase, ENGINES } from './support/stores.ts';

const actor = { type: 'system' as const, id: 'test' };

/**
 * Issue 13 (roll and credits, roll atomicity, self-service roll rule, ids at the edge) and
 * issue 21 points 2 and 3 (retired keys, keys born expired). Each test failed before its fix.
 */
describe.each(ENGINES)('key roll, credit pools and retirement on %s', (engine) => {
  let h: Harness;
  const clock = createManualClock(new Date('2025-10-15T12:00:00.000Z'));
  beforeAll(async () => {
    h = await createHarness(engine, { clock });
  });
  afterAll(async () => h?.close());

  let n = 0;
  async function newClient() {
    return h.services.clients.create({ name: `Roll ${++n}`, email: `r${n}@example.com` }, actor);
  }
  const call = (key: string) =>
    h.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': key } });
  const admin = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    h.app.inject({ method, url, headers: h.adminHeaders, ...(payload && { payload }) });

  it('a rolled key with credits shares one pool with its successor: 3 credits, 3 calls', async () => {
    const { client } = await newClient();
    const created = await admin('POST', `/admin/v1/clients/${client.id}/keys`, { credits: 3 });
    const old = created.json() as { key: { id: string }; apiKey: string };
    const rolled = await admin('POST', `/admin/v1/clients/${client.id}/keys/${old.key.id}/roll`);
    expect(rolled.statusCode).toBe(201);
    const fresh = rolled.json().apiKey as string;
    expect(rolled.json().key.credits).toEqual({ remaining: 3, refill: null });
    const codes: number[] = [];
    for (const key of [old.apiKey, fresh, old.apiKey, fresh, old.apiKey, fresh]) {
      codes.push((await call(key)).statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 429, 429, 429]);
    const listed = await admin('GET', `/admin/v1/clients/${client.id}/keys`);
    const pooled = listed.json().data.filter((k: { credits: unknown }) => k.credits);
    expect(pooled.map((k: { credits: { remaining: number } }) => k.credits.remaining)).toEqual([
      0, 0,
    ]);
  });

  it('a pool refills once per period, whichever key of it calls first', async () => {
    const { client } = await newClient();
    const { key, apiKey } = await h.services.keys.create(
      client.id,
      { credits: 1, refill: { interval: 'daily', amount: 2 } },
      actor,
    );
    const r = await h.services.keys.roll(client.id, key.id, actor, 3 * 86_400);
    expect((await call(apiKey)).statusCode).toBe(200);
    expect((await call(r.apiKey)).statusCode).toBe(429);
    clock.advance(86_400_000);
    const day2 = await Promise.all([apiKey, r.apiKey, apiKey, r.apiKey].map(call));
    expect(day2.map((x) => x.statusCode).sort()).toEqual([200, 200, 429, 429]);
  });

  it('deleting the old key leaves the pool to the new one; deleting the last drops it', async () => {
    const { client } = await newClient();
    const { key } = await h.services.keys.create(client.id, { credits: 5 }, actor);
    const r = await h.services.keys.roll(client.id, key.id, actor, 0);
    await h.services.keys.delete(client.id, key.id, actor);
    expect((await call(r.apiKey)).statusCode).toBe(200);
    expect((await h.services.keys.get(client.id, r.key.id)).credits?.remaining).toBe(4);
    const pools = () =>
      h.services.store.db
        .selectFrom('key_credit_pools')
        .select('id')
        .where('client_id', '=', client.id)
        .execute();
    expect(await pools()).toHaveLength(1);
    await h.services.keys.delete(client.id, r.key.id, actor);
    expect(await pools()).toHaveLength(0);
  });

  it('two concurrent rolls of a key: one 201, one 409 conflict, no orphaned active key', async () => {
    for (let round = 0; round < 3; round++) {
      const { client } = await newClient();
      const { key } = await h.services.keys.create(client.id, { credits: 2 }, actor);
      const url = `/admin/v1/clients/${client.id}/keys/${key.id}/roll`;
      const [a, b] = await Promise.all([admin('POST', url), admin('POST', url)]);
      expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
      const lost = a.statusCode === 409 ? a : b;
      expect(lost.json().error.code).toBe('conflict');
      const keys = (await h.services.keys.list(client.id)).data.filter((k) => k.name !== 'default');
      expect(keys).toHaveLength(2);
      const successors = keys.filter((k) => k.id !== key.id);
      expect(successors).toHaveLength(1);
      expect(keys.find((k) => k.id === key.id)!.retiredAt).not.toBeNull();
    }
  });

  it('a key can be rolled once: rolling it again during its grace is a conflict', async () => {
    const { client } = await newClient();
    const { key } = await h.services.keys.create(client.id, {}, actor);
    const r = await h.services.keys.roll(client.id, key.id, actor, 3600);
    await expect(h.services.keys.roll(client.id, key.id, actor)).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining(`already rolled (to ${r.key.id})`),
    });
    // The successor rolls normally.
    await expect(h.services.keys.roll(client.id, r.key.id, actor)).resolves.toBeTruthy();
  });

  it('an expired key cannot be rolled (its successor would be born expired)', async () => {
    const { client } = await newClient();
    const { key } = await h.services.keys.create(client.id, { expiresInSeconds: 60 }, actor);
    clock.advance(61_000);
    await expect(h.services.keys.roll(client.id, key.id, actor)).rejects.toMatchObject({
      code: 'conflict',
    });
  });

  it('a key retired by a roll cannot be reactivated: 409 with the reason', async () => {
    const { client } = await newClient();
    for (const grace of [0, 3600]) {
      const { key, apiKey } = await h.services.keys.create(client.id, {}, actor);
      const r = await h.services.keys.roll(client.id, key.id, actor, grace);
      if (grace) await h.services.keys.revoke(client.id, key.id, actor, 'early');
      const res = await admin('POST', `/admin/v1/clients/${client.id}/keys/${key.id}/reactivate`);
      expect(res.statusCode).toBe(409);
      expect(res.json().error).toMatchObject({
        code: 'conflict',
        message: `key ${key.id} cannot be reactivated: it was rolled (replaced by ${r.key.id})`,
      });
      expect((await call(apiKey)).statusCode).toBe(401);
      expect((await call(r.apiKey)).statusCode).toBe(200);
    }
  });

  it('revoke with retire (a leak) is for good, also for a revoked key; a plain revoke is not', async () => {
    const { client } = await newClient();
    const plain = await h.services.keys.create(client.id, {}, actor);
    await h.services.keys.revoke(client.id, plain.key.id, actor, 'pause');
    expect((await h.services.keys.reactivate(client.id, plain.key.id, actor)).status).toBe(
      'active',
    );

    const leaked = await h.services.keys.create(client.id, {}, actor);
    const reason = 'leaked: https://github.com/acme/app/blob/main/.env';
    const retired = await h.services.keys.revoke(client.id, leaked.key.id, actor, reason, {
      retire: true,
    });
    expect(retired).toMatchObject({ status: 'revoked', revokedReason: reason });
    expect(retired.retiredAt).not.toBeNull();
    const res = await admin(
      'POST',
      `/admin/v1/clients/${client.id}/keys/${leaked.key.id}/reactivate`,
    );
    expect(res.statusCode).toBe(409);
    expect(res.json().error.message).toContain(`revoked for good (${reason})`);
    expect((await call(leaked.apiKey)).statusCode).toBe(401);

    const already = await h.services.keys.create(client.id, {}, actor);
    await h.services.keys.revoke(client.id, already.key.id, actor);
    await h.services.keys.revoke(client.id, already.key.id, actor, reason, { retire: true });
    await expect(
      h.services.keys.reactivate(client.id, already.key.id, actor),
    ).rejects.toMatchObject({ code: 'conflict' });
    const actions = (await h.services.audit.list({ clientId: client.id, limit: 50 })).data
      .filter((e) => e.action === 'key.revoked' && e.targetId === already.key.id)
      .map((e) => e.data);
    expect(actions).toHaveLength(2);
  });

  it('a key cannot be created already expired: 400 (admin and self-service)', async () => {
    const { client, apiKey } = await newClient();
    for (const expiresAt of ['1970-01-01T00:00:00Z', clock.now().toISOString()]) {
      const a = await admin('POST', `/admin/v1/clients/${client.id}/keys`, { expiresAt });
      expect(a.statusCode, expiresAt).toBe(400);
      expect(a.json().error).toMatchObject({
        code: 'validation_failed',
        message: 'expiresAt must be in the future',
      });
      const own = await h.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { 'x-api-key': apiKey },
        payload: { expiresAt },
      });
      expect(own.statusCode, expiresAt).toBe(400);
    }
    const later = new Date(clock.nowMs() + 1000).toISOString();
    expect(
      (await admin('POST', `/admin/v1/clients/${client.id}/keys`, { expiresAt: later })).statusCode,
    ).toBe(201);
  });

  it('self-service roll safety is the service’s: rollOwn refuses a key worth more than the caller', async () => {
    const { client } = await newClient();
    const broad = await h.services.keys.create(client.id, { scopes: ['*'] }, actor);
    const narrow = await h.services.keys.create(client.id, { scopes: ['keys:write'] }, actor);
    const v = await h.services.keys.verify(narrow.apiKey);
    await expect(
      h.services.keys.rollOwn(v.auth!, broad.key.id, { type: 'client', id: narrow.key.id }),
    ).rejects.toMatchObject({ code: 'insufficient_scope' });
    expect((await h.services.keys.get(client.id, broad.key.id)).retiredAt).toBeNull();
    const self = await h.services.keys.rollOwn(v.auth!, narrow.key.id, {
      type: 'client',
      id: narrow.key.id,
    });
    expect(self.key.scopes).toEqual(['keys:write']);
  });

  it('garbage ids answer 404 not_found like missing ones, on admin and client routes', async () => {
    const { client, key, apiKey } = await newClient();
    for (const url of [
      `/admin/v1/clients/${client.id}/keys/not-a-key`,
      `/admin/v1/clients/${client.id}/keys/${key.id.replace('key_', 'cred_')}`,
      `/admin/v1/clients/nope/keys/${key.id}`,
      `/admin/v1/clients/${'x'.repeat(90)}`,
    ]) {
      const res = await admin('GET', url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
    const own = await h.app.inject({
      method: 'GET',
      url: '/v1/keys/%27%20or%201=1--',
      headers: { 'x-api-key': apiKey },
    });
    expect(own.statusCode).toBe(404);
  });
});

describe.each(ENGINES)('ids at the edge on %s', (engine) => {
  it('a garbage id never reaches a query: not_found with the store closed', async () => {
    const h = await createHarness(engine);
    try {
      const { client, key } = await h.services.clients.create(
        { name: 'Closed', email: 'closed@example.com' },
        actor,
      );
      await h.services.store.close();
      await expect(h.services.keys.get(client.id, 'garbage')).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(h.services.clients.get('client_x')).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(h.services.keys.ownerOf('1; drop table api_keys')).rejects.toMatchObject({
        code: 'not_found',
      });
      // A well-formed id does reach the (closed) store: the check above is the shape check.
      await expect(h.services.keys.get(client.id, key.id)).rejects.not.toMatchObject({
        code: 'not_found',
      });
    } finally {
      await h.database.drop();
    }
  });
});

describe.each(ENGINES)('migration 0008 on %s', (engine) => {
  it('moves each key’s credits into its own pool and retires keys rolled before', async () => {
    const database = await createTestDatabase(engine);
    const store = createStore(database.url);
    try {
      const migrator = new Migrator({
        db: store.db,
        provider: { getMigrations: async () => migrations },
      });
      const to7 = await migrator.migrateTo('0007-dashboard-sessions');
      expect(to7.error).toBeUndefined();
      const at = '2025-10-01T00:00:00.000Z';
      const row = (id: string, credits: number | null, rolledTo: string | null) => sql`
        insert into api_keys (id, client_id, key_hash, start, environment, scopes, ip_allowlist,
          credits_remaining, refill_interval, refill_amount, refilled_at, meta, status, rolled_to,
          created_at, updated_at)
        values (${id}, 'client_000000000000000000000001', ${id}, 'kp_live_abcd', 'live', '[]',
          '[]', ${credits}, ${credits === null ? null : 'daily'}, ${credits === null ? null : 9},
          ${credits === null ? null : at}, '{}', 'active', ${rolledTo}, ${at}, ${at})`;
      await row('key_000000000000000000000001', 7, null).execute(store.db);
      await row('key_000000000000000000000002', null, 'key_000000000000000000000003').execute(
        store.db,
      );
      await migrateToLatest(store.db);
      const pools = await store.db.selectFrom('key_credit_pools').selectAll().execute();
      expect(pools.map((p) => ({ ...p, remaining: Number(p.remaining) }))).toMatchObject([
        {
          id: 'pool_000000000000000000000001',
          remaining: 7,
          refill_interval: 'daily',
          refilled_at: at,
        },
      ]);
      const keys = await store.db
        .selectFrom('api_keys')
        .select(['id', 'credit_pool_id', 'retired_at'])
        .orderBy('id')
        .execute();
      expect(keys).toEqual([
        { id: 'key_000000000000000000000001', credit_pool_id: pools[0]!.id, retired_at: null },
        { id: 'key_000000000000000000000002', credit_pool_id: null, retired_at: at },
      ]);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
