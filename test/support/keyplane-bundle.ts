import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * `import.meta.dirname` and `import.meta.url` keep naming the source file they are written in
 * (the dashboard's dist/, the usage writer's worker entry), not the bundle.
 */
function keepSourceLocations(writerBundle: string): Plugin {
  return {
    name: 'keep-source-locations',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => ({
        loader: 'ts',
        contents: startBundledWriter(args.path, readFileSync(args.path, 'utf8'), writerBundle)
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
          .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      }));
    },
  };
}

const WRITER_ENTRY = "new URL('./usage-writer-entry.mjs', import.meta.url)";

/**
 * In the CLI's bundle, the SQLite usage writer thread starts the writer's bundle instead of the
 * tsx entry (see USAGE_WRITER_ENTRY in src/usage/usage-writer.ts), or the build fails.
 */
function startBundledWriter(path: string, source: string, writerBundle: string): string {
  if (!path.endsWith('/src/usage/usage-writer.ts')) return source;
  if (!source.includes(WRITER_ENTRY))
    throw new Error(`usage-writer.ts no longer has ${WRITER_ENTRY}`);
  return source.replace(
    WRITER_ENTRY,
    `new URL(${JSON.stringify(pathToFileURL(writerBundle).href)})`,
  );
}

/**
 * The test suite's own child processes (a second node on the same store), bundled like the CLI:
 * started with `node --import tsx` each spent about 2 s of CPU compiling the server again.
 */
export const TEST_WORKERS = ['keys-worker', 'audit-append-worker', 'change-feed-child'] as const;
export type TestWorker = (typeof TEST_WORKERS)[number];

export interface KeyplaneBundle {
  /** The bundled `src/cli/main.ts`: what `node FILE ARGS…` runs as `keyplane ARGS…`. */
  file: string;
  /** The bundled `src/usage/usage-writer-worker.ts`, the SQLite usage writer thread. */
  usageWriter: string;
  /** Each of TEST_WORKERS bundled, by name: what `node FILE ARGS…` runs. */
  workers: Record<TestWorker, string>;
  remove(): void;
}

/**
 * The CLI's own sources bundled into one ES module, for tests that start `keyplane` as a
 * process: the same code as `./bin/keyplane`, without tsx resolving and compiling some 200
 * files at every start (about 2 s of each start on a loaded machine). Built once per run, under
 * node_modules/ so that the packages (left out of the bundle) resolve as they do for the sources;
 * one directory per run, so two runs at once never share a half-written file. The SQLite usage
 * writer thread is bundled too, for the same reason: tsx starting in every new thread.
 */
export async function buildKeyplaneBundle(): Promise<KeyplaneBundle> {
  const dir = join(ROOT, 'node_modules/.cache/keyplane-test', String(process.pid));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'keyplane.mjs');
  const usageWriter = join(dir, 'usage-writer.mjs');
  const bundle = (entry: string, outfile: string) =>
    build({
      entryPoints: [join(ROOT, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      plugins: [keepSourceLocations(usageWriter)],
      logLevel: 'warning',
    });
  const workers = Object.fromEntries(
    TEST_WORKERS.map((name) => [name, join(dir, `${name}.mjs`)]),
  ) as Record<TestWorker, string>;
  await Promise.all([
    bundle('src/cli/main.ts', file),
    bundle('src/usage/usage-writer-worker.ts', usageWriter),
    ...TEST_WORKERS.map((name) => bundle(`test/support/${name}.ts`, workers[name])),
  ]);
  return {
    file,
    usageWriter,
    workers,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
