import type { DestinationStream } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { createLogger, type Logger } from '../infra/logger.ts';
import { AppError } from '../lib/errors.ts';
import type { Services } from '../services.ts';
import type { Actor } from '../audit/index.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { userInfo } from 'node:os';

export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A stream a command writes to: the process's own, or a test's buffer. */
export type CliWritable = NodeJS.WritableStream & { isTTY?: boolean };

/**
 * Everything a command reads from or writes to outside its arguments. The binary passes the
 * process's own; tests pass buffers and their own environment, so a command runs in-process
 * exactly as it runs from a shell (see `runCli` in program.ts).
 */
export interface CliIo {
  stdout: CliWritable;
  stderr: CliWritable;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
  };
}

interface CliRun {
  io: CliIo;
  exitCode: number;
}

// One run per async context: two in-process runs (two tests) never see each other's streams.
const currentRun = new AsyncLocalStorage<CliRun>();

/** Runs `fn` as one CLI invocation with `io`; resolves with the exit code it set. */
export async function withCliRun(io: CliIo, fn: () => Promise<void>): Promise<number> {
  const run: CliRun = { io, exitCode: 0 };
  await currentRun.run(run, fn);
  return run.exitCode;
}

/** The streams and environment of the command being run. */
export function cliIo(): CliIo {
  return currentRun.getStore()?.io ?? processIo();
}

/** The exit code the command ends with, when it prints its answer and still fails (exit 1). */
export function setExitCode(code: number): void {
  const run = currentRun.getStore();
  if (run) run.exitCode = code;
  else process.exitCode = code;
}

/** A bad flag or argument: exit 1 with one `error: …` line (README, CLI exit codes). */
export function usageError(message: string): CliExit {
  return new CliExit(1, message.startsWith('error: ') ? message : `error: ${message}`);
}

/** A whole-number flag in [1, max], or a usage error naming it (`--limit must be 1-1000`). */
export function countOption(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw usageError(`error: ${flag} must be 1-${max}`);
  return n;
}

export function loadConfigOrExit(overrides: Partial<Record<string, string>> = {}): Config {
  const io = cliIo();
  try {
    return loadConfig({ ...io.env, ...overrides }, io.cwd);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new CliExit(2, err.problems.map((p) => `config error: ${p}`).join('\n'));
    }
    throw err;
  }
}

/** CLI commands log to stderr (warnings only) so that stdout holds just the answer. */
export function cliLogger(config: Config): Logger {
  return createLogger({
    level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    destination: cliIo().stderr as unknown as DestinationStream,
  });
}

/** The operator at the terminal, as the audit log names them. */
export function cliActor(): Actor {
  let name = 'operator';
  try {
    name = userInfo().username;
  } catch {
    /* no passwd entry in some containers */
  }
  return { type: 'cli', id: name, ip: null };
}

/**
 * Opens the configured store, runs `fn`, always closes (flushing buffers). The runtime (stores,
 * services, drivers) loads here, on first use: `keyplane --version` or `--help` never loads it.
 */
export async function withServices<T>(fn: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit();
  const { openRuntime } = await import('../runtime.ts');
  const services = await openRuntime(config, cliLogger(config));
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

export interface OutputOptions {
  json?: boolean;
}

export function printJson(value: unknown): void {
  cliIo().stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** `--json` prints the value; otherwise the human rendering. */
export function output(opts: OutputOptions, value: unknown, human: () => string): void {
  if (opts.json) printJson(value);
  else cliIo().stdout.write(human().replace(/\n?$/, '\n'));
}

export function formatError(err: unknown): { code: number; text: string } {
  if (err instanceof CliExit) return { code: err.exitCode, text: err.message };
  // Problems found after the config file parsed (the master key, its pairing with the store).
  if (err instanceof ConfigError) {
    return { code: 2, text: err.problems.map((p) => `config error: ${p}`).join('\n') };
  }
  if (err instanceof AppError) return { code: 1, text: `error: ${err.message}` };
  const msg = (err as Error)?.message ?? String(err);
  return { code: 1, text: `error: ${msg}` };
}

/** A plain table for terminals. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  if (!rows.length) return '(none)';
  const cells = rows.map((r) =>
    columns.map((c) => (r[c] === null || r[c] === undefined ? '' : String(r[c]))),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}
