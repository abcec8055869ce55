/**
 * A real Keyplane for the SDK and example suites: `keyplane serve` in-process, listening on
 * loopback, on a fresh SQLite file or PostgreSQL database, with a price book. Test-only: the
 * SDK itself never imports the server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKeyplane } from '../../bench/lib.ts';
import type { Engine } from '../../src/store/create-db.ts';
import { createTestDatabase } from '../../test/support/stores.ts';

/** Seed 02's prices, as the example's README tells the operator to configure them. */
export const VIDEO_PRICING = {
  'POST /api/video/buffer': '0.01',
  'POST /api/video/analyze': '0.05',
  'POST /api/alert': '0.10',
};

export interface TestKeyplane {
  url: string;
  engine: Engine;
  /** The bootstrap admin token (scope `admin`). */
  adminToken: string;
  services: Awaited<ReturnType<typeof startKeyplane>>['services'];
  /** Creates an admin token with just these scopes, over HTTP. */
  adminTokenWith(scopes: string[]): Promise<string>;
  /** Calls of POST /admin/v1/verify that Keyplane answered, from its /metrics. */
  verifyCalls(): Promise<number>;
  close(): Promise<void>;
}

export async function startTestKeyplane(
  engine: Engine,
  pricing: Record<string, string | number> = VIDEO_PRICING,
): Promise<TestKeyplane> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-sdk-'));
  const configFile = join(dir, 'keyplane.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ pricing, billing: { schedule: 'off', send: false } }, null, 2),
  );
  const database = engine === 'sqlite' ? null : await createTestDatabase(engine);
  const kp = await startKeyplane({
    databaseUrl: database?.url,
    env: { KEYPLANE_CONFIG: configFile, KEYPLANE_LOG_LEVEL: 'warn' },
  });
  const admin = { authorization: `Bearer ${kp.adminToken}` };
  return {
    url: kp.url,
    engine: kp.engine,
    adminToken: kp.adminToken,
    services: kp.services,
    async adminTokenWith(scopes) {
      const res = await fetch(`${kp.url}/admin/v1/admin-tokens`, {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `test ${scopes.join(' ')}`, scopes }),
      });
      if (res.status !== 201) throw new Error(`admin token: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async verifyCalls() {
      const res = await fetch(`${kp.url}/metrics`, { headers: admin });
      const text = await res.text();
      let n = 0;
      for (const line of text.split('\n')) {
        if (
          line.startsWith('keyplane_http_requests_total{') &&
          line.includes('route="/admin/v1/verify"')
        ) {
          n += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
      return n;
    },
    async close() {
      await kp.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
