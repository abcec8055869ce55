import type { DestinationStream } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { createLogger, type Logger } from '../infra/logger.ts';
import { AppError } from '../lib/errors.ts';
import { openRuntime } from '../runtime.ts';
import type { Services } from '../services.ts';
import type { Actor } from '../audit/audit-types.ts';
import { userInfo } from 'node:os';

export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function loadConfigOrExit(overrides: Partial<Record<string, string>> = {}): Config {
  try {
    return loadConfig({ ...process.env, ...overrides });
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
    destination: process.stderr as unknown as DestinationStream,
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

/** Opens the configured store, runs `fn`, always closes (flushing buffers). */
export async function withServices<T>(fn: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfigOrExit();
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
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** `--json` prints the value; otherwise the human rendering. */
export function output(opts: OutputOptions, value: unknown, human: () => string): void {
  if (opts.json) printJson(value);
  else process.stdout.write(human().replace(/\n?$/, '\n'));
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
