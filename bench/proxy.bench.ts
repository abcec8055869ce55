import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchSeconds,
  fmt,
  measure,
  seedGeminiClient,
  startKeyplane,
  type BenchResult,
  type Measurement,
  type Target,
} from './lib.ts';
import { startFloorProxy } from './proxy-floor.ts';
import { startUpstream, type Upstream } from './proxy-upstream.ts';

export const description =
  'Upstream proxy: GET /v1/proxy/gemini/… (key check, cached credential resolve, pooled upstream call over loopback, streamed and scrubbed answer) vs the upstream called directly, vs an authenticated /v1/health, and vs the floor (a bare node:http + undici pass-through, no auth, same process); the upstream in this process, then in its own';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Measures the targets in alternation (order reversed every other round), after a warm-up. */
async function rounds(targets: Target[], count: number, seconds: number) {
  const runs = targets.map(() => [] as Measurement[]);
  for (const t of targets) await measure(t.url, { ...t.options, seconds: Math.min(2, seconds) });
  for (let round = 1; round <= count; round++) {
    const order = round % 2 ? targets : [...targets].reverse();
    for (const t of order) {
      const m = await measure(t.url, { ...t.options, seconds });
      runs[targets.indexOf(t)]!.push(m);
      process.stderr.write(
        `  round ${round}/${count}  ${t.name.padEnd(40)} ${fmt(m.rps)} req/s  p99 ${m.p99Ms} ms\n`,
      );
    }
  }
  return runs;
}

/**
 * One layout's figures: each target's median req/s, the per-round median ratios proxy/direct,
 * health/direct, floor/direct (what any Node proxy on this machine can reach), proxy/floor
 * (how close Keyplane is to it) and proxy/health (the proxy's own cost on top of an
 * authenticated call), and the p99 the proxy adds to the direct call at the same connection
 * count (10).
 */
function summarize(label: string, names: string[], runs: Measurement[][]): BenchResult[] {
  const [direct, health, proxy, floor] = runs as [
    Measurement[],
    Measurement[],
    Measurement[],
    Measurement[],
  ];
  const rps = (ms: Measurement[]) => median(ms.map((m) => m.rps));
  const ratio = (a: Measurement[], b: Measurement[]) => median(a.map((m, i) => m.rps / b[i]!.rps));
  const bad = runs.flat().reduce((n, m) => n + m.errors + m.non2xx, 0);
  const invalid = bad ? `; ${bad} errors/non-2xx: MEASUREMENT INVALID` : '';
  const p = (ms: Measurement[]) =>
    `p50 ${median(ms.map((m) => m.p50Ms))} ms, p99 ${median(ms.map((m) => m.p99Ms))} ms`;
  const spread = (ms: Measurement[]) => {
    const xs = ms.map((m) => m.rps);
    return `spread ${(((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100).toFixed(0)}%`;
  };
  const base = { name: names[0]!, value: rps(direct) };
  const row = (name: string, ms: Measurement[], target?: string): BenchResult => ({
    name: `${name} [${label}]`,
    value: rps(ms),
    unit: 'req/s',
    baseline: base,
    ratio: ratio(ms, direct),
    target,
    note: `${p(ms)}; ${spread(ms)}${invalid}`,
  });
  return [
    { name: `${names[0]} [${label}]`, value: base.value, unit: 'req/s', note: p(direct) },
    row(names[1]!, health),
    row(names[2]!, proxy, '≥ 0.35'),
    row(names[3]!, floor),
    {
      name: `proxy vs the floor [${label}]`,
      value: rps(proxy),
      unit: 'req/s',
      baseline: { name: names[3]!, value: rps(floor) },
      ratio: ratio(proxy, floor),
      note: 'how close Keyplane comes to a pass-through that does none of its work',
    },
    {
      name: `proxy vs authenticated /v1/health [${label}]`,
      value: rps(proxy),
      unit: 'req/s',
      baseline: { name: names[1]!, value: rps(health) },
      ratio: ratio(proxy, health),
      note: 'the proxy’s own cost on top of a metered, authenticated call',
    },
    {
      name: `p99 the proxy adds [${label}]`,
      value: median(proxy.map((m, i) => m.p99Ms - direct[i]!.p99Ms)),
      unit: 'ms',
      note: 'proxy p99 − direct p99, same round, 10 connections',
    },
  ];
}

async function layout(label: string, upstream: Upstream, seconds: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kp-bench-proxy-'));
  const configFile = join(dir, 'keyplane.config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ providers: { gemini: { baseUrl: `${upstream.url}/gemini` } } }),
  );
  const kp = await startKeyplane({ env: { KEYPLANE_CONFIG: configFile } });
  const floor = await startFloorProxy(upstream.url);
  try {
    const { apiKey } = await seedGeminiClient(kp);
    const headers = { 'x-api-key': apiKey };
    const targets: Target[] = [
      { name: 'upstream directly', url: `${upstream.url}/gemini/v1beta/models` },
      { name: 'GET /v1/health (client key)', url: `${kp.url}/v1/health`, options: { headers } },
      {
        name: 'GET /v1/proxy/gemini/v1beta/models',
        url: `${kp.url}/v1/proxy/gemini/v1beta/models`,
        options: { headers },
      },
      { name: 'floor: bare node:http + undici proxy', url: `${floor.url}/gemini/v1beta/models` },
    ];
    process.stderr.write(`  ${label}:\n`);
    const runs = await rounds(targets, 3, seconds);
    return summarize(
      label,
      targets.map((t) => t.name),
      runs,
    );
  } finally {
    await floor.close();
    await kp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const seconds = Math.min(benchSeconds(4), 3);
  const results: BenchResult[] = [];
  // As before: the upstream shares Keyplane's thread, so a proxied call pays for both servers.
  const inProcess = await startUpstream('in-process');
  try {
    results.push(...(await layout('upstream in-process', inProcess, seconds)));
  } finally {
    await inProcess.close();
  }
  // As deployed: the provider is elsewhere (here: its own process, on the shared cores).
  const own = await startUpstream('child-process');
  try {
    results.push(...(await layout('upstream in its own process', own, seconds)));
  } finally {
    await own.close();
  }
  return results;
}
