import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../src/lib/clock.ts';

type ManualClock = ReturnType<typeof createManualClock>;
import { createHarness, TEST_MASTER_KEY, testWorker, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';
import { storedUsage } from './support/usage.ts';

/**
 * The key lifecycle against a reference model: random sequences of create, verify (a real call
 * over the HTTP API, metered), roll with and without grace, revoke, reactivate, time passing
 * (expiry, daily refills), suspend / reactivate / delete the client. After every step the
 * server must agree with the model on whether each key works; after every sequence, every 200
 * was metered exactly once, each credit pool holds what the model says (never more spent than
 * granted) and the audit chain verifies. Seeded (KEYPLANE_MODEL_SEED to replay), bounded in runs
 * and time; a failure prints the seed and the shrunk sequence.
 */

const DAY = 86_400_000;
const actor = { type: 'system' as const, id: 'model' };
const dayOf = (ms: number) => Math.floor(ms / DAY);

interface ModelKey {
  id: string;
  apiKey: string;
  pool: string;
  revoked: boolean;
  retired: boolean;
  expiresAtMs: number | null;
}
interface ModelPool {
  credits: number | null;
  refill: number | null;
  day: number;
  granted: number;
  spent: number;
}
interface Model {
  client: 'active' | 'suspended' | 'deleted';
  keys: ModelKey[];
  pools: Map<string, ModelPool>;
  calls: number;
}
interface Real {
  h: Harness;
  clock: ManualClock;
  clientId: string;
}
type Cmd = fc.AsyncCommand<Model, Real>;

/** Does the model let `k` make a call now? If so, the call spends one of its pool's credits. */
function spend(m: Model, k: ModelKey, nowMs: number): boolean {
  if (m.client !== 'active' || k.revoked) return false;
  if (k.expiresAtMs !== null && k.expiresAtMs <= nowMs) return false;
  const p = m.pools.get(k.pool)!;
  if (p.credits === null) return true;
  if (p.refill !== null && dayOf(nowMs) > p.day) {
    p.credits = p.refill; // a refill sets the pool to the amount, once per UTC day
    p.day = dayOf(nowMs);
    p.granted += p.refill;
  }
  if (p.credits <= 0) return false;
  p.credits--;
  p.spent++;
  return true;
}

const pick = (m: Model, i: number) => m.keys[i % m.keys.length]!;
/** The i-th (modulo) of the keys a command applies to, so few generated commands are idle. */
const among = (keys: ModelKey[], i: number) => keys[i % keys.length]!;
const live = (m: Model) => m.keys.filter((k) => !k.revoked);
const revoked = (m: Model) => m.keys.filter((k) => k.revoked);

class CreateKey implements Cmd {
  constructor(
    readonly credits: number | null,
    readonly refill: number | null,
    readonly expiresIn: number | null,
  ) {}
  check = (m: Model) => m.client === 'active';
  async run(m: Model, r: Real) {
    const { key, apiKey } = await r.h.services.keys.create(
      r.clientId,
      {
        ...(this.credits !== null && { credits: this.credits }),
        ...(this.credits !== null && this.refill !== null
          ? { refill: { interval: 'daily' as const, amount: this.refill } }
          : {}),
        ...(this.expiresIn !== null && { expiresInSeconds: this.expiresIn }),
      },
      actor,
    );
    const now = r.clock.nowMs();
    expect(key.credits?.remaining ?? null).toBe(this.credits);
    m.keys.push({
      id: key.id,
      apiKey,
      pool: key.id,
      revoked: false,
      retired: false,
      expiresAtMs: this.expiresIn === null ? null : now + this.expiresIn * 1000,
    });
    const refill = this.credits === null ? null : this.refill;
    m.pools.set(key.id, {
      credits: this.credits,
      refill,
      day: dayOf(now),
      granted: this.credits ?? 0,
      spent: 0,
    });
  }
  toString = () =>
    `create(credits=${this.credits}, refill=${this.refill}, expiresIn=${this.expiresIn})`;
}

class Call implements Cmd {
  constructor(readonly i: number) {}
  check = (m: Model) => m.keys.length > 0;
  async run(m: Model, r: Real) {
    const k = pick(m, this.i);
    const expected = spend(m, k, r.clock.nowMs());
    const res = await r.h.app.inject({
      method: 'GET',
      url: '/v1/health',
      headers: { 'x-api-key': k.apiKey },
    });
    expect(res.statusCode === 200, `call with ${k.id}: ${res.statusCode} ${res.body}`).toBe(
      expected,
    );
    if (expected) m.calls++;
  }
  toString = () => `call(#${this.i})`;
}

class Revoke implements Cmd {
  constructor(readonly i: number) {}
  check = (m: Model) => m.client !== 'deleted' && live(m).length > 0;
  async run(m: Model, r: Real) {
    const k = among(live(m), this.i);
    await r.h.services.keys.revoke(r.clientId, k.id, actor, 'model');
    k.revoked = true;
  }
  toString = () => `revoke(#${this.i})`;
}

class Reactivate implements Cmd {
  constructor(readonly i: number) {}
  check = (m: Model) => m.client !== 'deleted' && revoked(m).length > 0;
  async run(m: Model, r: Real) {
    const k = among(revoked(m), this.i);
    const p = r.h.services.keys.reactivate(r.clientId, k.id, actor);
    if (k.retired) {
      await expect(p).rejects.toMatchObject({ code: 'conflict' }); // rolled: gone for good
    } else {
      await p;
      k.revoked = false;
    }
  }
  toString = () => `reactivate(#${this.i})`;
}

class Roll implements Cmd {
  constructor(
    readonly i: number,
    readonly grace: number,
  ) {}
  check = (m: Model) => m.client === 'active' && m.keys.length > 0;
  async run(m: Model, r: Real) {
    const k = pick(m, this.i);
    const now = r.clock.nowMs();
    const rollable = !k.revoked && !k.retired && (k.expiresAtMs === null || now < k.expiresAtMs);
    const p = r.h.services.keys.roll(r.clientId, k.id, actor, this.grace);
    if (!rollable) {
      await expect(p).rejects.toMatchObject({ code: 'conflict' });
      return;
    }
    const { key, apiKey } = await p;
    expect(key.expiresAt === null ? null : Date.parse(key.expiresAt)).toBe(k.expiresAtMs);
    m.keys.push({ ...k, id: key.id, apiKey }); // same pool, same expiry
    k.retired = true;
    if (this.grace === 0) k.revoked = true;
    else {
      const graceEnd = now + this.grace * 1000;
      k.expiresAtMs = k.expiresAtMs === null ? graceEnd : Math.min(k.expiresAtMs, graceEnd);
    }
  }
  toString = () => `roll(#${this.i}, grace=${this.grace}s)`;
}

class Tick implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_m: Model, r: Real) {
    r.clock.advance(this.ms);
  }
  toString = () => `tick(${this.ms} ms)`;
}

class ClientStatus implements Cmd {
  constructor(readonly to: 'suspended' | 'active' | 'deleted') {}
  check = (m: Model) =>
    this.to === 'deleted'
      ? m.client !== 'deleted'
      : m.client === (this.to === 'active' ? 'suspended' : 'active');
  async run(m: Model, r: Real) {
    const c = r.h.services.clients;
    if (this.to === 'suspended') await c.suspend(r.clientId, actor);
    else if (this.to === 'active') await c.reactivate(r.clientId, actor);
    else await c.delete(r.clientId, actor);
    m.client = this.to;
  }
  toString = () => `client→${this.to}`;
}

const commands = [
  fc
    .tuple(
      fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
      fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
      fc.option(fc.constantFrom(60, 7200), { nil: null }),
    )
    .map(([c, r, e]) => new CreateKey(c, r, e)),
  fc.nat(20).map((i) => new Call(i)),
  fc.nat(20).map((i) => new Call(i)),
  fc.nat(20).map((i) => new Call(i)),
  fc.nat(20).map((i) => new Revoke(i)),
  fc.nat(20).map((i) => new Reactivate(i)),
  fc.tuple(fc.nat(20), fc.constantFrom(0, 10, 3600)).map(([i, g]) => new Roll(i, g)),
  fc.constantFrom(1_000, 30_000, 3_600_000, DAY).map((ms) => new Tick(ms)),
  // Deletion ends a sequence's interest: one in five status changes.
  fc
    .constantFrom('suspended', 'active', 'suspended', 'active', 'deleted')
    .map((to) => new ClientStatus(to as 'suspended' | 'active' | 'deleted')),
];

const SEED = Number(process.env.KEYPLANE_MODEL_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe.each(ENGINES)('key lifecycle against a model on %s', (engine) => {
  let h: Harness;
  const clock = createManualClock(new Date('2025-10-02T10:00:00.000Z'));
  // One server for the runs (each run has its own client): a fresh database per run would
  // spend the time budget on migrations instead of sequences.
  beforeAll(async () => {
    h = await createHarness(engine, { clock });
  });
  afterAll(async () => h?.close());

  /** Everything the sequence left behind agrees with the model. */
  async function invariants(m: Model, r: Real) {
    await new Promise((done) => setImmediate(done)); // onResponse hooks have recorded the calls
    await h.services.usage.flush();
    expect((await storedUsage(h.services.store.db, r.clientId)).calls, 'metered once per 200').toBe(
      m.calls,
    );
    for (const [firstKeyId, p] of m.pools) {
      expect(p.spent, 'spent ≤ granted').toBeLessThanOrEqual(p.granted);
      if (p.credits === null || m.client === 'deleted') continue;
      // A pool is named by its first key; every key of the pool reads the same remaining credits.
      const ofPool = m.keys.filter((k) => k.pool === firstKeyId);
      for (const k of ofPool) {
        const real = await h.services.keys.get(r.clientId, k.id);
        expect(real.credits?.remaining, `credits left in the pool of ${firstKeyId}`).toBe(
          p.credits,
        );
      }
    }
    expect((await h.services.audit.verify()).ok, 'audit chain').toBe(true);
  }
  it('no key works that the model says is dead; credits and metering add up', async () => {
    console.log(`keys lifecycle model (${engine}): seed ${SEED} (KEYPLANE_MODEL_SEED to replay)`);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'max' }), async (cmds) => {
        const { client, key, apiKey } = await h.services.clients.create(
          { name: `Model ${run}`, email: `model${run++}@example.com` },
          actor,
        );
        const model: Model = {
          client: 'active',
          keys: [
            { id: key.id, apiKey, pool: key.id, revoked: false, retired: false, expiresAtMs: null },
          ],
          pools: new Map([[key.id, { credits: null, refill: null, day: 0, granted: 0, spent: 0 }]]),
          calls: 0,
        };
        const real: Real = { h, clock, clientId: client.id };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await invariants(model, real);
      }),
      { numRuns: 25, seed: SEED, interruptAfterTimeLimit: 20_000, markInterruptAsFailure: false },
    );
  });
});

/** Two worker processes on the harness's database, started together; their JSON answers. */
async function twoWorkers(h: Harness, args: string[][]): Promise<Array<Record<string, unknown>>> {
  const env = {
    ...process.env,
    KEYPLANE_DATABASE_URL: h.config.databaseUrl,
    KEYPLANE_DATA_DIR: h.database.dir,
    KEYPLANE_MASTER_KEY: TEST_MASTER_KEY,
    KEYPLANE_LOG_LEVEL: 'silent',
  };
  const procs = args.map((a) =>
    spawn(process.execPath, [testWorker('keys-worker'), ...a], {
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const lines = procs.map((p) => {
    let out = '';
    const ready = new Promise<void>((ok) =>
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) ok();
      }),
    );
    const done = new Promise<string>((ok, fail) =>
      p.on('exit', (code) =>
        code === 0
          ? ok(out.split('\n').filter(Boolean).at(-1)!)
          : fail(new Error(`worker exit ${code}`)),
      ),
    );
    return { ready, done };
  });
  await Promise.all(lines.map((l) => l.ready));
  for (const p of procs) p.stdin!.end('go\n'); // both start at once
  return (await Promise.all(lines.map((l) => l.done))).map((l) => JSON.parse(l));
}

describe.each(ENGINES)('key credits and rolls across two processes on %s', (engine) => {
  it('two processes spending one pool never spend more than it holds; of two rolls one wins', async () => {
    const h = await createHarness(engine);
    try {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 3, max: 25 }), async (credits) => {
          const { client } = await h.services.clients.create(
            { name: 'Pool', email: 'pool@example.com' },
            actor,
          );
          const made = await h.services.keys.create(client.id, { credits }, actor);
          // A roll first: the old key (in grace) and the new one spend the same pool.
          const rolled = await h.services.keys.roll(client.id, made.key.id, actor, 3600);
          const spent = await twoWorkers(h, [
            ['spend', made.apiKey, String(credits)],
            ['spend', rolled.apiKey, String(credits)],
          ]);
          const valid = spent.reduce((n, r) => n + Number(r.valid), 0);
          expect(valid, `valid calls from ${credits} credits`).toBe(credits);
          expect((await h.services.keys.get(client.id, rolled.key.id)).credits?.remaining).toBe(0);

          const rolls = await twoWorkers(h, [
            ['roll', client.id, rolled.key.id, '0'],
            ['roll', client.id, rolled.key.id, '0'],
          ]);
          expect(rolls.filter((r) => r.rolled)).toHaveLength(1);
          expect(rolls.filter((r) => !r.rolled)).toEqual([{ rolled: false, code: 'conflict' }]);
          const keys = (await h.services.keys.list(client.id)).data;
          const working = keys.filter((k) => k.status === 'active' && !k.retiredAt);
          // The client's first key, and the one roll's new key: no orphan from the losing roll.
          expect(working.map((k) => k.id).sort()).toEqual(
            [
              keys.find((k) => k.id !== made.key.id && k.id !== rolled.key.id && !k.credits)!.id,
              rolls.find((r) => r.rolled)!.keyId as string,
            ].sort(),
          );
          expect((await h.services.audit.verify()).ok).toBe(true);
        }),
        { numRuns: 1, seed: SEED },
      );
    } finally {
      await h.close();
    }
  });
});
