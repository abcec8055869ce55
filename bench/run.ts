/**
 * `npm run bench [name…] [--json]`: runs every bench/*.bench.ts (or the named ones, e.g.
 * `npm run bench healthz`) in order and prints one table. Numbers never fail the run; a bench
 * that crashes does (exit 1), after the others have run.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatTable, type BenchModule, type BenchResult } from './lib.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const wanted = args.filter((a) => !a.startsWith('--'));
const dir = import.meta.dirname;
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length) {
  process.stderr.write(`unknown bench: ${unknown.join(', ')} (have: ${available.join(', ')})\n`);
  process.exit(2);
}
const names = wanted.length ? wanted : available;

const results: BenchResult[] = [];
let failed = false;
const started = performance.now();
for (const name of names) {
  const mod = (await import(pathToFileURL(join(dir, `${name}.bench.ts`)).href)) as BenchModule;
  process.stderr.write(`\n▶ ${name}${mod.description ? `: ${mod.description}` : ''}\n`);
  try {
    const t0 = performance.now();
    const got = await mod.run();
    results.push(...got);
    process.stderr.write(
      `${formatTable(got)}\n(${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
    );
  } catch (err) {
    failed = true;
    process.stderr.write(`✗ ${name} crashed: ${(err as Error)?.stack ?? String(err)}\n`);
  }
}

const machine = `node ${process.version}, ${(await import('node:os')).cpus().length} cpus`;
if (json) process.stdout.write(JSON.stringify({ machine, results }, null, 2) + '\n');
else {
  process.stdout.write(
    `\nKeyplane benchmarks (${machine}; ratios are what to compare across machines)\n\n`,
  );
  process.stdout.write(formatTable(results) + '\n');
}
process.stderr.write(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
process.exit(failed ? 1 : 0);
