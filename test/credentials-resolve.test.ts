import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createStore } from '../src/store/create-db.ts';
import { createManualClock } from '../src/lib/clock.ts';
import { createHarness, TEST_MASTER_KEY, type Harness } from './support/harness.ts';
import { startKeyplane, type ServeProcess } from './support/keyplane-process.ts';
import { createTestDatabase, ENGINES } from './support/stores.ts';

/** The vault's promise to other nodes: a change reaches their caches within 1 s. */
const DEADLINE_MS = 1000;
const SYSTEM = { type: 'system' as const, id: 'test' };
const secret = (label: string) => `${label}-${Math.random().toString(36).slice(2)}-0123456789`;

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number, what: string) {
  const start = performance.now();
  for (;;) {
    const v = await fn();
    if (ok(v)) return performance.now() - start;
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function newClient(h: Harness, name: string) {
  const { client } = await h.services.clients.create(
    { name, email: `${name.toLowerCase()}@example.com` },
    SYSTEM,
  );
  return client.id;
}

describe.each(ENGINES)('credential use accounting on %s', (engine) => {
  it('counts every use exactly once a graceful stop has flushed, with first and last request ids', async () => {
    const database = await createTestDatabase(engine);
    const clock = createManualClock(new Date('2026-01-01T00:00:00.000Z'));
    const h = await createHarness(engine, { database, clock });
    const start = clock.nowMs();
    const actors = ['key_a', 'key_b', 'key_c'].map((id) => ({ type: 'client' as const, id }));
    const perActor = 400;
    let credentialId: string;
    try {
      const clientId = await newClient(h, 'Counted');
      credentialId = (
        await h.services.credentials.create(
          clientId,
          { provider: 'gemini', credentialName: 'hot', credentials: { apiKey: secret('AIza') } },
          SYSTEM,
        )
      ).id;
      // Three callers interleaved, each use one millisecond later than the one before.
      for (let i = 0; i < perActor; i++) {
        await Promise.all(
          actors.map((actor) => {
            clock.advance(1);
            return h.services.credentials.resolve(
              { clientId, provider: 'gemini', requestId: `req_${actor.id}_${i}` },
              actor,
            );
          }),
        );
      }
    } finally {
      await h.close(); // the graceful stop: every pending use is written
    }
    const store = createStore(database.url);
    try {
      const row = await store.db
        .selectFrom('credentials')
        .select(['usage_count', 'last_used_at'])
        .where('id', '=', credentialId)
        .executeTakeFirstOrThrow();
      expect(Number(row.usage_count)).toBe(actors.length * perActor);
      expect(row.last_used_at).toBe(new Date(start + actors.length * perActor).toISOString());
      const used = await store.db
        .selectFrom('audit_log')
        .select(['actor_id', 'data', 'seq'])
        .where('action', '=', 'credential.used')
        .where('target_id', '=', credentialId)
        .orderBy('seq')
        .execute();
      for (const actor of actors) {
        const mine = used
          .filter((e) => e.actor_id === actor.id)
          .map((e) => JSON.parse(e.data) as Record<string, unknown>);
        expect(mine.reduce((n, d) => n + Number(d.count), 0)).toBe(perActor);
        expect(mine[0]!.firstRequestId).toBe(`req_${actor.id}_0`);
        expect(mine.at(-1)!.lastRequestId).toBe(`req_${actor.id}_${perActor - 1}`);
      }
      // Batched: far fewer chained rows than uses.
      expect(used.length).toBeLessThan(actors.length * 10);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

/**
 * Two in-process nodes on one fresh database, their change feeds live, for one test: `fn` gets
 * them, and they are stopped and the database dropped whatever happens.
 */
async function withTwoNodes(
  engine: (typeof ENGINES)[number],
  fn: (a: Harness, b: Harness) => Promise<void>,
) {
  const database = await createTestDatabase(engine);
  const nodes: Harness[] = [];
  try {
    nodes.push(await createHarness(engine, { database }));
    nodes.push(await createHarness(engine, { database }));
    const [a, b] = nodes as [Harness, Harness];
    await until(
      async () => a.services.changes.isLive() && b.services.changes.isLive(),
      Boolean,
      10_000,
      'feeds live',
    );
    await fn(a, b);
  } finally {
    for (const n of nodes) await n.close();
    await database.drop();
  }
}

const resolveOn = (node: Harness, clientId: string) =>
  node.services.credentials.resolve({ clientId, provider: 'gemini' }, SYSTEM).then(
    (r) => r.credentials.apiKey as string,
    (err: { code: string }) => err.code,
  );

describe.each(ENGINES)('the opened-secret cache across two nodes on %s', (engine) => {
  it('a rotation, deletion, suspension or client deletion on one node reaches the other within 1 s', () =>
    withTwoNodes(engine, async (a, b) => {
      const resolveOnB = (clientId: string) => resolveOn(b, clientId);
      const clientId = await newClient(a, 'Evicted');
      const v1 = secret('AIza-v1');
      const cred = await a.services.credentials.create(
        clientId,
        { provider: 'gemini', credentialName: 'main', credentials: { apiKey: v1 } },
        SYSTEM,
      );
      expect(await resolveOnB(clientId)).toBe(v1); // now cached on B
      const v2 = secret('AIza-v2');
      await a.services.credentials.update(
        clientId,
        cred.id,
        { credentials: { apiKey: v2 } },
        SYSTEM,
      );
      await until(
        () => resolveOnB(clientId),
        (v) => v === v2,
        DEADLINE_MS,
        'rotation on B',
      );

      await a.services.clients.suspend(clientId, SYSTEM);
      await until(
        () => resolveOnB(clientId),
        (v) => v === 'client_suspended',
        DEADLINE_MS,
        'suspension',
      );
      await a.services.clients.reactivate(clientId, SYSTEM);
      await until(
        () => resolveOnB(clientId),
        (v) => v === v2,
        DEADLINE_MS,
        'reactivation',
      );

      await a.services.credentials.remove(clientId, cred.id, SYSTEM);
      await until(
        () => resolveOnB(clientId),
        (v) => v === 'not_found',
        DEADLINE_MS,
        'deletion on B',
      );

      const other = await newClient(a, 'Deleted');
      await a.services.credentials.create(
        other,
        { provider: 'gemini', credentialName: 'main', credentials: { apiKey: secret('AIza-o') } },
        SYSTEM,
      );
      expect(await resolveOnB(other)).toMatch(/^AIza-o/);
      await a.services.clients.delete(other, SYSTEM);
      await until(
        () => resolveOnB(other),
        (v) => v === 'not_found',
        DEADLINE_MS,
        'client deletion',
      );
    }));
});

describe.each(ENGINES)('a rewrap on %s', (engine) => {
  it('makes the other node read the row again within 1 s', async () => {
    const database = await createTestDatabase(engine);
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)].map((k) => k.toString('base64'));
    const h0 = await createHarness(engine, {
      database,
      env: { KEYPLANE_MASTER_KEYS: `old:${oldKey}` },
    });
    const clientId = await newClient(h0, 'Rewrapped');
    const v1 = secret('AIza-rw');
    const cred = await h0.services.credentials.create(
      clientId,
      { provider: 'gemini', credentialName: 'main', credentials: { apiKey: v1 } },
      SYSTEM,
    );
    await h0.close();
    const env = { KEYPLANE_MASTER_KEYS: `old:${oldKey},*new:${newKey}` };
    const a = await createHarness(engine, { database, env });
    const b = await createHarness(engine, { database, env });
    try {
      await until(async () => b.services.changes.isLive(), Boolean, 10_000, 'feed live');
      const onB = () => resolveOn(b, clientId);
      expect(await onB()).toBe(v1); // cached on B
      // Flip a bit of the sealed secret behind the caches' back: rewrap moves only the data key,
      // so only a fresh read on B can notice, and B failing proves its entry was evicted.
      const row = await a.services.store.db
        .selectFrom('credentials')
        .select('secret')
        .where('id', '=', cred.id)
        .executeTakeFirstOrThrow();
      const parts = row.secret.split('.');
      const ct = Buffer.from(parts[3]!, 'base64url');
      ct[0]! ^= 0x01;
      parts[3] = ct.toString('base64url');
      await a.services.store.db
        .updateTable('credentials')
        .set({ secret: parts.join('.') })
        .where('id', '=', cred.id)
        .execute();
      expect(await onB()).toBe(v1); // still cached: nothing told B
      expect(await a.services.credentials.rewrap()).toMatchObject({ rewrapped: 1 });
      await until(onB, (v) => v === 'internal_error', DEADLINE_MS, 'rewrap reaching B');
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});

describe.each(ENGINES)('the opened-secret cache in another process on %s', (engine) => {
  it('a rotation and a deletion reach a running `keyplane serve` within 1 s', async () => {
    const database = await createTestDatabase(engine);
    const a = await createHarness(engine, { database });
    let serve: ServeProcess | null = null;
    try {
      serve = await startKeyplane({
        env: {
          KEYPLANE_DATABASE_URL: database.url,
          KEYPLANE_DATA_DIR: database.dir,
          KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
          KEYPLANE_LOG_LEVEL: 'info',
        },
      });
      const url = serve.url;
      const clientId = await newClient(a, 'Remote');
      const resolveRemote = async () => {
        const res = await fetch(`${url}/admin/v1/credentials/resolve`, {
          method: 'POST',
          headers: { ...a.adminHeaders, 'content-type': 'application/json' },
          body: JSON.stringify({ clientId, provider: 'gemini' }),
        });
        const body = (await res.json()) as {
          credentials?: { apiKey: string };
          error?: { code: string };
        };
        return body.credentials?.apiKey ?? body.error?.code ?? String(res.status);
      };
      const v1 = secret('AIza-p1');
      const cred = await a.services.credentials.create(
        clientId,
        { provider: 'gemini', credentialName: 'main', credentials: { apiKey: v1 } },
        SYSTEM,
      );
      // Wait for the other process's feed to be up (its first answers may precede it).
      await until(resolveRemote, (v) => v === v1, 20_000, 'remote resolve');
      await until(resolveRemote, (v) => v === v1, 1, 'cached remote resolve');
      const v2 = secret('AIza-p2');
      await a.services.credentials.update(
        clientId,
        cred.id,
        { credentials: { apiKey: v2 } },
        SYSTEM,
      );
      await until(resolveRemote, (v) => v === v2, DEADLINE_MS, 'rotation in the other process');
      await a.services.credentials.remove(clientId, cred.id, SYSTEM);
      await until(
        resolveRemote,
        (v) => v === 'not_found',
        DEADLINE_MS,
        'deletion in the other process',
      );
      // No secret in what the other process logged.
      expect(serve.stdout() + serve.stderr()).not.toContain(v1);
      expect(serve.stdout() + serve.stderr()).not.toContain(v2);
    } finally {
      await serve?.stop();
      await a.close();
      await database.drop();
    }
  }, 90_000);
});
