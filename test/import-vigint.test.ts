import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../src/audit/audit-types.ts';
import { createHarness, type Harness } from './support/harness.ts';
import {
  buildVigintSource,
  sha256,
  vigintKey,
  type VigintSource,
} from './support/import-sources.ts';
import { ENGINES } from './support/stores.ts';
import { storedUsage } from './support/usage.ts';

const actor: Actor = { type: 'system', id: 'import-test' };

describe.each(ENGINES)('import of seed 01/02 (Vigint SQLite) on %s', (engine) => {
  let h: Harness;
  let src: VigintSource;
  const dir = mkdtempSync(join(tmpdir(), 'kp-import-vigint-'));
  const health = (key: string) =>
    h.app.inject({ method: 'GET', url: '/v1/health', headers: { 'x-api-key': key } });

  beforeAll(async () => {
    h = await createHarness(engine);
    src = buildVigintSource(dir);
  });
  afterAll(async () => {
    src?.db.close();
    await h?.close();
  });

  it('a dry run reports what it would import and writes nothing', async () => {
    const report = await h.services.imports.vigintSqlite(src.path, { actor, dryRun: true });
    expect(report).toMatchObject({
      dryRun: true,
      imported: { client: 3, payment: 2, key: 4, usage: 6 },
      failed: [],
    });
    expect((await h.services.clients.list({})).data).toHaveLength(0);
    expect((await health(src.keys.acme)).statusCode).toBe(401);
  });

  it('imports clients, payment details, keys and usage; the original keys work', async () => {
    const report = await h.services.imports.vigintSqlite(src.path, { actor });
    expect(report).toMatchObject({
      imported: { client: 3, payment: 2, key: 4, usage: 6 },
      skipped: {},
      failed: [],
    });
    for (const key of [src.keys.acme, src.keys.tech, src.keys.secure]) {
      const res = await health(key);
      expect(res.statusCode, res.body).toBe(200);
    }
    const inactive = await health(src.keys.inactive);
    expect(inactive.statusCode).toBe(401);
    expect(inactive.json().error.message).toMatch(/revoked/i);

    const clients = (await h.services.clients.list({})).data;
    const acme = clients.find((c) => c.name === 'Acme Corp')!;
    expect(acme).toMatchObject({
      email: 'acme@example.com',
      createdAt: '2025-09-01T10:00:00.000Z',
    });
    expect(await h.services.billing.getPaymentDetails(acme.id)).toMatchObject({
      method: 'card',
      frequency: 'weekly',
    });
  });

  it('invoices a past week from the imported usage at the recorded costs', async () => {
    const run = await h.services.billing.run({ period: '2025-W40', actor });
    expect(run).toMatchObject({ period: '2025-W40' });
    const invoices = (await h.services.billing.list({ period: '2025-W40' })).data;
    const acme = (await h.services.clients.list({})).data.find((c) => c.name === 'Acme Corp')!;
    const inv = invoices.find((i) => i.clientId === acme.id)!;
    // 0.01 + 0.05 on 2025-10-02 and 0.05 on 2025-09-29; the alert on 2025-10-06 is next week.
    expect(inv).toMatchObject({ totalMicros: 110_000, total: '0.11' });
    expect(inv.lineItems).toEqual([
      expect.objectContaining({
        endpoint: '/api/video/analyze',
        calls: 2,
        unitPriceMicros: 50_000,
      }),
      expect.objectContaining({ endpoint: '/api/video/buffer', calls: 1, unitPriceMicros: 10_000 }),
    ]);
  });

  it('a second run imports nothing new', async () => {
    await h.services.usage.flush();
    const before = await storedUsage(h.services.store.db);
    const report = await h.services.imports.vigintSqlite(src.path, { actor });
    expect(report).toMatchObject({
      imported: {},
      skipped: { client: 3, payment: 2, key: 4, usage: 6 },
      failed: [],
    });
    expect((await h.services.clients.list({})).data).toHaveLength(3);
    await h.services.usage.flush();
    expect(await storedUsage(h.services.store.db)).toEqual(before);
  });

  it('legacy keys are marked, revocable, and rolling one issues a Keyplane key', async () => {
    const acme = (await h.services.clients.list({})).data.find((c) => c.name === 'Acme Corp')!;
    const listed = await h.app.inject({
      method: 'GET',
      url: `/admin/v1/clients/${acme.id}/keys`,
      headers: h.adminHeaders,
    });
    expect(listed.statusCode).toBe(200);
    const keys = listed.json().data as Array<{ id: string; legacy: boolean; status: string }>;
    expect(keys).toHaveLength(2);
    expect(keys.every((k) => k.legacy)).toBe(true);
    expect(listed.body).not.toContain(sha256(src.keys.acme));

    const active = keys.find((k) => k.status === 'active')!;
    const rolled = await h.services.keys.roll(acme.id, active.id, actor, 0);
    expect(rolled.key.legacy).toBe(false);
    expect(rolled.apiKey).toMatch(/^kp_live_/);
    expect((await health(rolled.apiKey)).statusCode).toBe(200);
    expect((await health(src.keys.acme)).statusCode).toBe(401);
  });

  it('reports bad rows one by one and imports the rest', async () => {
    const bad = buildVigintSource(dir, `bad-${engine}.db`);
    bad.db.pragma('foreign_keys = OFF'); // as Python's sqlite3 runs it: parents are not checked
    bad.db.exec(`
      INSERT INTO api_keys (id, client_id, key_hash, is_active) VALUES (10, 42, '${sha256(vigintKey())}', 1);
      INSERT INTO api_keys (id, client_id, key_hash, is_active) VALUES (11, 2, '${sha256(bad.keys.tech)}', 1);
      INSERT INTO api_keys (id, client_id, key_hash, is_active) VALUES (12, 2, 'not-a-hash', 1);
      INSERT INTO api_usage (id, api_key_id, endpoint, cost, timestamp) VALUES (50, 99, '/api/alert', 0.1, '2025-10-02');
      INSERT INTO api_usage (id, api_key_id, endpoint, cost, timestamp) VALUES (51, 1, '/api/alert', 0.1, 'yesterday');
      ALTER TABLE payment_details ADD COLUMN iban TEXT;
    `);
    const report = await h.services.imports.vigintSqlite(bad.path, { actor, source: 'vigint-2' });
    const problems = report.failed.map((f) => `${f.entity} ${f.sourceId}: ${f.message}`);
    expect(problems).toEqual([
      'payment 1: payment_details: unknown column(s) iban',
      'payment 2: payment_details: unknown column(s) iban',
      'key 10: client 42 does not exist in the source',
      'key 11: duplicate key: the same key_hash as an earlier row',
      'key 12: key_hash is not a SHA-256 (64 hex digits)',
      'usage 50: api key 99 does not exist in the source',
      'usage 51: timestamp is not a valid time',
    ]);
    expect(report.imported).toMatchObject({ client: 3, key: 4, usage: 6 });
    expect(JSON.stringify(report)).not.toContain(bad.keys.tech);
    expect((await health(bad.keys.secure)).statusCode).toBe(200);
    bad.db.close();
  });

  it('a key that is not in Keyplane format is refused offline while no legacy keys exist', async () => {
    const fresh = await createHarness(engine);
    try {
      const garbage = vigintKey();
      // Until the start-up count of legacy keys lands, such a key is looked up (and MALFORMED).
      const deadline = Date.now() + 10_000;
      let answer = fresh.services.keys.verify(garbage);
      while (answer instanceof Promise && Date.now() < deadline) {
        expect(await answer).toMatchObject({ code: 'MALFORMED' });
        answer = fresh.services.keys.verify(garbage);
      }
      // Then MALFORMED without a storage lookup: a plain value, not a promise.
      expect(answer).not.toBeInstanceOf(Promise);
      expect(answer).toMatchObject({ valid: false, code: 'MALFORMED' });
    } finally {
      await fresh.close();
    }
  });
});
