import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { findKeys, type FoundKey } from '../../leaks/index.ts';
import { keyPattern, keyPatternSource } from '../../lib/key-format.ts';
import {
  cliActor,
  cliIo,
  loadConfigOrExit,
  output,
  setExitCode,
  usageError,
  withServices,
} from '../context.ts';

/** Directories a scan never descends into: history and installed packages are not the code. */
const SKIP_DIRS = new Set(['.git', 'node_modules']);
/** Larger files are skipped with a warning (a key sits in text, not in a 1 GB dump). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

interface Finding extends FoundKey {
  file: string;
  kind: 'key' | 'admin_token';
  status?: string;
  action?: string | null;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of cliIo().stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Every file under these paths (directories recursively), in a stable order. */
async function* filesOf(paths: string[]): AsyncGenerator<string> {
  for (const path of paths) {
    let info;
    try {
      info = await stat(resolve(cliIo().cwd, path));
    } catch {
      throw usageError(`cannot read ${path}`);
    }
    if (info.isFile()) yield path;
    else if (info.isDirectory()) {
      const entries = await readdir(resolve(cliIo().cwd, path), { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const e of entries) {
        if (e.isDirectory() && SKIP_DIRS.has(e.name)) continue;
        if (e.isDirectory() || e.isFile()) yield* filesOf([join(path, e.name)]);
      }
    }
  }
}

/** Keyplane-format tokens in the given files (or stdin), checksum-checked; offline. */
async function scanInputs(paths: string[], prefix: string): Promise<Finding[]> {
  const pattern = keyPattern([prefix, `${prefix}adm`]);
  const kindOf = (f: FoundKey): Finding['kind'] =>
    f.start.startsWith(`${prefix}adm_`) ? 'admin_token' : 'key';
  const found: Finding[] = [];
  if (!paths.length || (paths.length === 1 && paths[0] === '-')) {
    for (const f of findKeys(await readStdin(), pattern))
      found.push({ ...f, file: '-', kind: kindOf(f) });
    return found;
  }
  for await (const file of filesOf(paths)) {
    const path = resolve(cliIo().cwd, file);
    if ((await stat(path)).size > MAX_FILE_BYTES) {
      cliIo().stderr.write(`warning: skipped ${file} (over ${MAX_FILE_BYTES} bytes)\n`);
      continue;
    }
    const text = await readFile(path, 'utf8');
    const name = relative(cliIo().cwd, path) || file;
    for (const f of findKeys(text, pattern)) found.push({ ...f, file: name, kind: kindOf(f) });
  }
  return found;
}

/** --check / --revoke: ask the store about each client key found (admin tokens are not looked up). */
async function checkFindings(found: Finding[], revoke: boolean): Promise<Finding[]> {
  return withServices(async (s) => {
    const keys = found.filter((f) => f.kind === 'key');
    const checked = await s.leaks.check(keys);
    const status = new Map(checked.map((c) => [c.key, c.status]));
    const actions = new Map<string, string | null>();
    if (revoke) {
      const live = keys.filter((f) => status.get(f.key) === 'live');
      const outcomes = await s.leaks.report(
        live.map((f) => ({ token: f.key, type: 'keyplane scan', url: `${f.file}:${f.line}` })),
        { source: 'scan', actor: cliActor(), policy: 'revoke' },
      );
      live.forEach((f, i) => actions.set(f.key, outcomes[i]!.action));
    }
    return found.map((f) =>
      f.kind === 'key'
        ? {
            ...f,
            status: status.get(f.key) ?? 'unknown',
            ...(revoke && { action: actions.get(f.key) ?? null }),
          }
        : f,
    );
  });
}

function render(found: Finding[]): string {
  if (!found.length) return 'no Keyplane keys found';
  const lines = found.map((f) => {
    const what = f.kind === 'admin_token' ? 'admin token' : `${f.environment} key`;
    const extra = [f.status, f.action && f.action !== 'duplicate' ? f.action : null]
      .filter(Boolean)
      .join(', ');
    return `${f.file}:${f.line}:${f.column}: ${f.start}… (${what}${extra ? `, ${extra}` : ''})`;
  });
  return [...lines, `${found.length} Keyplane key(s) found`].join('\n');
}

export function scanCommand(program: Command) {
  program
    .command('scan')
    .description(
      'find Keyplane keys in files, directories (recursively) or stdin, offline; exits 1 when any is found',
    )
    .argument('[paths...]', 'files or directories; none or - reads stdin')
    .option('--check', 'ask the configured store whether each key is live')
    .option('--revoke', 'revoke every live key found (implies --check; audited, emailed)')
    .option('--pattern', 'print the regular expression to register with a secret scanning partner')
    .option('--json', 'machine-readable output: {findings, count}')
    .action(
      async (
        paths: string[],
        opts: { check?: boolean; revoke?: boolean; pattern?: boolean; json?: boolean },
      ) => {
        const config = loadConfigOrExit();
        if (opts.pattern) {
          const pattern = keyPatternSource([config.keyPrefix]);
          output(opts, { pattern }, () => pattern);
          return;
        }
        let found = await scanInputs(paths, config.keyPrefix);
        if ((opts.check || opts.revoke) && found.length) {
          found = await checkFindings(found, !!opts.revoke);
        }
        const shown = found.map(({ key: _key, ...rest }) => rest);
        output(opts, { findings: shown, count: shown.length }, () => render(found));
        if (found.length) setExitCode(1);
      },
    );
}
