import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../test/support/servers.ts';
import {
  benchSeconds,
  compare,
  NO_POSTGRES_NOTE,
  startKeyplane,
  withBenchPostgres,
  type BenchResult,
} from './lib.ts';

export const description =
  'Cost of a hard budget on the hot path: GET /v1/health for a client with a client budget vs one without (same server; SQLite, then PostgreSQL + Redis)';

/**
 * One real Keyplane, two clients: one with a hard monthly budget it never reaches (its calls
 * take their price out of the node's budget lease), one without (the budget step is one Set
 * lookup). Alternating rounds against the same server, so the ratio is the budget's own cost.
 */
async function measureOn(label: string, env: Record<string, string>): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-budgets-'));
  const configFile = join(dir, 'keyplane.config.json');
  writeFileSync(configFile, JSON.stringify({ pricing: { 'GET /v1/health': '0.000001', '*': 0 } }));
  const kp = await startKeyplane({
    databaseUrl: env.KEYPLANE_DATABASE_URL,
    env: { ...env, KEYPLANE_CONFIG: configFile },
  });
  try {
    const actor = { type: 'system' as const, id: 'bench' };
    const plain = await kp.services.clients.create(
      { name: 'No budget', email: 'a@example.com' },
      actor,
    );
    const budgeted = await kp.services.clients.create(
      { name: 'Budget', email: 'b@example.com' },
      actor,
    );
    const budget = await kp.services.budgets.create(
      budgeted.client.id,
      { amountMicros: 1_000_000_000_000, period: 'month', mode: 'hard' },
      actor,
    );
    const target = (name: string, apiKey: string) => ({
      name: `${name} (${label})`,
      url: `${kp.url}/v1/health`,
      options: { headers: { 'x-api-key': apiKey } },
    });
    const [base, withBudget] = await compare({
      baseline: target('GET /v1/health, client without a budget', plain.apiKey),
      candidates: [target('GET /v1/health, client with a hard budget', budgeted.apiKey)],
      rounds: 3,
      seconds: benchSeconds(4),
    });
    await kp.services.budgets.gate.drain();
    const spent = (await kp.services.budgets.get(budgeted.client.id, budget.id)).current
      .spentMicros;
    return [
      base!,
      {
        ...withBudget!,
        target: '≥ 0.9× without',
        note: `${spent.toLocaleString('en-US')} calls counted on the budget (1 micro each)`,
      },
    ];
  } finally {
    await kp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const results = await measureOn('SQLite', {});
  const redis = await startRedis();
  try {
    const pg = await withBenchPostgres('kp_bench_budgets', (url) =>
      measureOn('PostgreSQL + Redis', {
        KEYPLANE_DATABASE_URL: url,
        ...(redis ? { KEYPLANE_REDIS_URL: redis.url } : {}),
      }),
    );
    results.push(
      ...(pg ?? [{ name: 'PostgreSQL + Redis', value: 0, unit: '', note: NO_POSTGRES_NOTE }]),
    );
  } finally {
    await redis?.stop();
  }
  return results;
}
