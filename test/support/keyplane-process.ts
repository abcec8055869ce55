import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inject } from 'vitest';

/**
 * `keyplane` as a child process, for end-to-end tests: exit codes, stdout/stderr, signals. The
 * parent's KEYPLANE_* variables never leak into the child; each test passes its own.
 *
 * By default the child runs this run's bundle of the CLI (built by global-setup.ts from the same
 * sources, see keyplane-bundle.ts), which starts without tsx compiling every file. `realBinary`
 * runs `./bin/keyplane` itself, for the tests about the binary a user starts.
 */
export const BIN = resolve(import.meta.dirname, '../../bin/keyplane');

export interface ProcessOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** `./bin/keyplane` (tsx over the sources) instead of the bundle. */
  realBinary?: boolean;
}

/** The script `node` runs as `keyplane`: the bundle, or the real binary. */
export function keyplaneScript(options: { realBinary?: boolean } = {}): string {
  return options.realBinary ? BIN : inject('keyplaneBundle');
}

export function tempDir(label = 'kp-e2e-'): string {
  return mkdtempSync(join(tmpdir(), label));
}

function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KEYPLANE_') && k !== 'NODE_OPTIONS' && !k.startsWith('VITEST')) base[k] = v;
  }
  return { ...base, ...env };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `keyplane …` to completion. `input` is written to stdin (secrets never go in argv). */
export function runKeyplane(
  args: string[],
  options: ProcessOptions & { input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [keyplaneScript(options), ...args], {
      cwd: options.cwd ?? tempDir(),
      env: childEnv(options.env ?? {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** stdout JSON log lines parsed (non-JSON lines, like the bootstrap banner, are skipped). */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit code once the process has ended and its output is all read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then wait for exit (SIGKILL after `ms`). */
  stop(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `keyplane serve --port 0` and waits for the "keyplane listening" log line, which
 * carries the URL. Rejects (with the output) if the process exits first.
 */
export function startKeyplane(
  options: ProcessOptions & { args?: string[] } = {},
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      keyplaneScript(options),
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      ...(options.args ?? []),
    ],
    {
      cwd: options.cwd ?? tempDir(),
      env: childEnv(options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  // 'close', not 'exit': a process's last lines can still be in the pipe when it exits.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => r({ code, signal })),
  );
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  const handle: Omit<ServeProcess, 'url'> = {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    stop: async (ms = 15_000) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keyplane serve did not start in 30 s\n${out}\n${err}`));
    }, 30_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = logs().find((l) => l.msg === 'keyplane listening');
      if (line) {
        clearTimeout(timer);
        resolvePromise({ ...handle, url: String(line.url) });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`keyplane serve exited with ${code} before listening\n${out}\n${err}`));
    });
  });
}

/**
 * The bootstrap admin token a first start on an empty store prints in its banner (of whichever
 * of `processes` printed it, for nodes started at once).
 */
export function bootstrapToken(...processes: ServeProcess[]): string {
  const out = processes.map((p) => p.stdout()).join('\n');
  const m = /bootstrap admin token[\s\S]*?\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/.exec(out);
  if (!m) throw new Error(`no bootstrap token printed:\n${out}`);
  return m[1]!;
}
