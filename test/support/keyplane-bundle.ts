import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * `import.meta.dirname` and `import.meta.url` keep naming the source file they are written in
 * (the dashboard's dist/, the usage writer's worker entry), not the bundle.
 */
const keepSourceLocations: Plugin = {
  name: 'keep-source-locations',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => ({
      loader: 'ts',
      contents: readFileSync(args.path, 'utf8')
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
    }));
  },
};

export interface KeyplaneBundle {
  /** The bundled `src/cli/main.ts`: what `node FILE ARGS…` runs as `keyplane ARGS…`. */
  file: string;
  remove(): void;
}

/**
 * The CLI's own sources bundled into one ES module, for tests that start `keyplane` as a
 * process: the same code as `./bin/keyplane`, without tsx resolving and compiling some 200
 * files at every start (about 2 s of each start on a loaded machine). Built once per run, under
 * node_modules/ so that the packages (left out of the bundle) resolve as they do for the sources;
 * one directory per run, so two runs at once never share a half-written file.
 */
export async function buildKeyplaneBundle(): Promise<KeyplaneBundle> {
  const dir = join(ROOT, 'node_modules/.cache/keyplane-test', String(process.pid));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'keyplane.mjs');
  await build({
    entryPoints: [join(ROOT, 'src/cli/main.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    plugins: [keepSourceLocations],
    logLevel: 'warning',
  });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
