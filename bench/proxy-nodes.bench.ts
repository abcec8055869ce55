import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  benchSeconds,
  fmt,
  measure,
  NO_POSTGRES_NOTE,
  seedGeminiClient,
  startKeyplane,
  withBenchPostgres,
  type BenchResult,
  type Measurement,
} from './lib.ts';
import { startUpstream } from './proxy-upstream.ts';

export const description =
  'Two Keyplane processes on one PostgreSQL proxying GET /v1/proxy/gemini/… together (10 + 10 connections) vs one alone (20 connections); upstream and load generator on the same 2 cores';

const BIN = resolve(import.meta.dirname, '../bin/keyplane');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const addr = s.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `keyplane serve` as a process of its own, logging as production does (to a file). */
async function startNode(env: Record<string, string>, dir: string, name: string) {
  const port = await freePort();
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1'],
    { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', log, log] },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start: see ${join(dir, `${name}.log`)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function twoNodes(databaseUrl: string, seconds: number): Promise<BenchResult[]> {
  const upstream = await startUpstream('child-process');
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-nodes-'));
  const configFile = join(dir, 'keyplane.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ providers: { gemini: { baseUrl: `${upstream.url}/gemini` } } }),
  );
  const env = {
    KEYPLANE_DATABASE_URL: databaseUrl,
    KEYPLANE_MASTER_KEY: randomBytes(32).toString('base64'),
    KEYPLANE_CONFIG: configFile,
    KEYPLANE_DATA_DIR: dir,
    KEYPLANE_LOG_LEVEL: 'info',
  };
  // Migrate and seed once, in this process; then two real servers share the database.
  const seeder = await startKeyplane({ databaseUrl, env });
  const { apiKey } = await seedGeminiClient(seeder);
  await seeder.close();
  const nodes = [await startNode(env, dir, 'node-a'), await startNode(env, dir, 'node-b')];
  const path = '/v1/proxy/gemini/v1beta/models';
  const opts = (connections: number) => ({
    headers: { 'x-api-key': apiKey },
    connections,
    seconds,
  });
  const one = () => measure(`${nodes[0]!.url}${path}`, opts(20));
  const both = async () => {
    const [a, b] = await Promise.all(nodes.map((n) => measure(`${n.url}${path}`, opts(10))));
    return { ...a!, rps: a!.rps + b!.rps, p99Ms: Math.max(a!.p99Ms, b!.p99Ms) };
  };
  try {
    await one();
    await both();
    const ones: Measurement[] = [];
    const twos: Measurement[] = [];
    for (let round = 1; round <= 3; round++) {
      for (const which of round % 2 ? ['one', 'two'] : ['two', 'one']) {
        const m = which === 'one' ? await one() : await both();
        (which === 'one' ? ones : twos).push(m);
        process.stderr.write(`  round ${round}/3  ${which} node(s)  ${fmt(m.rps)} req/s\n`);
      }
    }
    const bad = [...ones, ...twos].reduce((n, m) => n + m.errors + m.non2xx, 0);
    const invalid = bad ? `; ${bad} errors/non-2xx: MEASUREMENT INVALID` : '';
    const base = { name: 'one node, 20 connections', value: median(ones.map((m) => m.rps)) };
    return [
      {
        name: 'proxy, one Keyplane process on PostgreSQL',
        value: base.value,
        unit: 'req/s',
        note: `p99 ${median(ones.map((m) => m.p99Ms))} ms${invalid}`,
      },
      {
        name: 'proxy, two Keyplane processes on the same PostgreSQL',
        value: median(twos.map((m) => m.rps)),
        unit: 'req/s',
        baseline: base,
        ratio: median(twos.map((m, i) => m.rps / ones[i]!.rps)),
        target: '> 1',
        note: `10 + 10 connections; worse p99 of the two ${median(twos.map((m) => m.p99Ms))} ms${invalid}`,
      },
    ];
  } finally {
    for (const n of nodes) await n.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const seconds = Math.min(benchSeconds(4), 4);
  const got = await withBenchPostgres('kp_bench_nodes', (url) => twoNodes(url, seconds));
  return (
    got ?? [
      { name: 'proxy, two nodes on PostgreSQL', value: NaN, unit: '', note: NO_POSTGRES_NOTE },
    ]
  );
}
