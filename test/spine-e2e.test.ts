import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, inject, it, vi } from 'vitest';
import { runKeyplaneInProcess } from './support/cli.ts';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { startKeyplane, tempDir, type ServeProcess } from './support/keyplane-process.ts';
import { createTestDatabase } from './support/stores.ts';

// Each test spawns keyplane a few times; on a busy machine that alone takes seconds.
vi.setConfig({ testTimeout: 120_000 });

/**
 * The README's first command, end to end: `keyplane serve` as a child process,
 * talked to over loopback HTTP.
 */
const BOOTSTRAP = /bootstrap admin token[\s\S]*?\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/;

function bootstrapTokens(p: ServeProcess): string[] {
  return [...p.stdout().matchAll(new RegExp(BOOTSTRAP, 'g'))].map((m) => m[1]!);
}

async function get(url: string, token?: string) {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, res };
}

describe('keyplane serve on the embedded default (SQLite in ./data)', () => {
  it('creates data/, a 0600 master key with a warning, and prints the bootstrap token once', async () => {
    const cwd = tempDir();
    // The README's first command is the binary itself; the other starts run the same code bundled.
    const first = await startKeyplane({ cwd, realBinary: true });
    let token: string;
    try {
      expect(existsSync(join(cwd, 'data', 'keyplane.db'))).toBe(true);
      const keyFile = join(cwd, 'data', 'master.key');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
      const warning = first.logs().find((l) => l.level === 40 && l.path === keyFile);
      expect(String(warning?.msg)).toContain('KEYPLANE_MASTER_KEY');
      expect(first.logs().find((l) => l.msg === 'migrations applied')).toBeDefined();

      const tokens = bootstrapTokens(first);
      expect(tokens).toHaveLength(1);
      token = tokens[0]!;
      // Printed in the banner only: no log line carries it.
      expect(first.logs().some((l) => JSON.stringify(l).includes(token))).toBe(false);

      expect((await get(`${first.url}/healthz`)).body).toEqual({ status: 'ok' });
      expect((await get(`${first.url}/readyz`)).body).toMatchObject({ status: 'ready' });
      const listed = await get(`${first.url}/admin/v1/admin-tokens`, token);
      expect(listed.status).toBe(200);
      expect(listed.body.data).toEqual([
        expect.objectContaining({ name: 'bootstrap', scopes: ['admin'], status: 'active' }),
      ]);
      expect((await get(`${first.url}/admin/v1/admin-tokens`)).status).toBe(401);
      const created = await fetch(`${first.url}/admin/v1/admin-tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ci', scopes: ['audit:read'] }),
      });
      expect(created.status).toBe(201);
      expect(await created.json()).toMatchObject({
        adminToken: { name: 'ci', scopes: ['audit:read'] },
        token: expect.stringMatching(/^kpadm_live_/),
      });
    } finally {
      expect((await first.stop()).code).toBe(0);
    }

    // Second start on the same store: no new token, no new key, the old token still works.
    const second = await startKeyplane({ cwd });
    try {
      expect(bootstrapTokens(second)).toEqual([]);
      expect(second.stdout()).not.toContain('bootstrap admin token');
      expect(second.logs().some((l) => l.level === 40)).toBe(false);
      expect(second.logs().find((l) => l.msg === 'migrations applied')).toBeUndefined();
      const listed = await get(`${second.url}/admin/v1/admin-tokens`, token);
      expect(listed.status).toBe(200);
      expect((listed.body.data as unknown[]).length).toBe(2);
    } finally {
      expect((await second.stop()).code).toBe(0);
    }
  });

  it('prints no bootstrap token when admin tokens were already made with the CLI', async () => {
    const cwd = tempDir();
    // The CLI in-process (the same program as the binary); the server is the real process.
    const made = await runKeyplaneInProcess(
      ['admin-tokens', 'create', '--name', 'first', '--json'],
      { cwd },
    );
    expect(made.code, made.stderr).toBe(0);
    const { token } = JSON.parse(made.stdout);
    const p = await startKeyplane({ cwd });
    try {
      expect(bootstrapTokens(p)).toEqual([]);
      expect((await get(`${p.url}/admin/v1/admin-tokens`, token)).status).toBe(200);
    } finally {
      expect((await p.stop()).code).toBe(0);
    }
  });

  it('KEYPLANE_DATA_DIR moves the database and the key', async () => {
    const cwd = tempDir();
    const dataDir = tempDir('kp-data-');
    const p = await startKeyplane({ cwd, env: { KEYPLANE_DATA_DIR: dataDir } });
    try {
      expect(existsSync(join(dataDir, 'keyplane.db'))).toBe(true);
      expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(cwd, 'data'))).toBe(false);
    } finally {
      expect((await p.stop()).code).toBe(0);
    }
  });
});

describe.skipIf(!inject('postgresUrl'))('keyplane serve on PostgreSQL', () => {
  it('migrates on start, prints the bootstrap token once, keeps no key file', async () => {
    const db = await createTestDatabase('postgres');
    const env = { KEYPLANE_DATABASE_URL: db.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    try {
      const cwd = tempDir();
      const first = await startKeyplane({ cwd, env });
      let token: string;
      try {
        expect(first.logs().find((l) => l.msg === 'migrations applied')).toBeDefined();
        const listening = first.logs().find((l) => l.msg === 'keyplane listening')!;
        expect(String(listening.store)).toMatch(/^postgres:\/\//);
        expect(existsSync(join(cwd, 'data'))).toBe(false);
        expect(first.logs().some((l) => l.level === 40)).toBe(false);
        const tokens = bootstrapTokens(first);
        expect(tokens).toHaveLength(1);
        token = tokens[0]!;
        expect((await get(`${first.url}/admin/v1/admin-tokens`, token)).status).toBe(200);
        expect((await get(`${first.url}/readyz`)).body).toMatchObject({
          status: 'ready',
          checks: { storage: 'ok' },
        });
      } finally {
        expect((await first.stop()).code).toBe(0);
      }
      const second = await startKeyplane({ cwd, env });
      try {
        expect(bootstrapTokens(second)).toEqual([]);
        expect((await get(`${second.url}/admin/v1/admin-tokens`, token)).status).toBe(200);
      } finally {
        expect((await second.stop()).code).toBe(0);
      }
    } finally {
      await db.drop();
    }
  });

  it('two nodes starting at once on an empty database: one migration run, one bootstrap token', async () => {
    const db = await createTestDatabase('postgres');
    const env = { KEYPLANE_DATABASE_URL: db.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    try {
      const nodes = await Promise.all([startKeyplane({ env }), startKeyplane({ env })]);
      try {
        const tokens = nodes.flatMap(bootstrapTokens);
        expect(tokens).toHaveLength(1);
        // Both nodes serve the same store: the one token works on each.
        for (const n of nodes) {
          expect((await get(`${n.url}/admin/v1/admin-tokens`, tokens[0])).status).toBe(200);
        }
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        const { rows } = await c.query<{ name: string }>('select name from kysely_migration');
        await c.end();
        expect(rows.map((r) => r.name)).toContain('0001-spine');
        expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
      } finally {
        for (const n of nodes) expect((await n.stop()).code).toBe(0);
      }
    } finally {
      await db.drop();
    }
  });

  it('answers /readyz 503 when the database goes away, keeps serving /healthz, stops cleanly', async () => {
    const db = await createTestDatabase('postgres');
    const env = { KEYPLANE_DATABASE_URL: db.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY };
    let dropped = false;
    try {
      const p = await startKeyplane({ env });
      try {
        expect((await get(`${p.url}/readyz`)).status).toBe(200);
        await db.drop(); // DROP DATABASE … WITH (FORCE): terminates every connection
        dropped = true;
        const ready = await get(`${p.url}/readyz`);
        expect(ready.status).toBe(503);
        expect(ready.body).toEqual({ status: 'not_ready', checks: { storage: 'down' } });
        expect((await get(`${p.url}/healthz`)).status).toBe(200);
        // A route that needs storage fails as a 5xx in the envelope, and the process lives on.
        const list = await get(`${p.url}/admin/v1/admin-tokens`, bootstrapTokens(p)[0]);
        expect(list.status).toBe(503);
        expect(list.body).toMatchObject({ error: { code: 'service_unavailable' } });
        expect((await get(`${p.url}/healthz`)).status).toBe(200);
      } finally {
        expect((await p.stop()).code).toBe(0);
      }
    } finally {
      if (!dropped) await db.drop();
    }
  });
});
