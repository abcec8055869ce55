import { Readable, Writable } from 'node:stream';
import { runCli } from '../../src/cli/program.ts';
import { tempDir, type RunResult } from './keyplane-process.ts';

/** A stream that keeps what is written, as a terminal-less pipe would. */
function collector(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

/** The test process's environment without its KEYPLANE_* settings, like a fresh shell. */
function cleanEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('KEYPLANE_') && !k.startsWith('VITEST')) base[k] = v;
  }
  return { ...base, ...env };
}

/**
 * Runs `keyplane ARGS…` in this process: the same commander program, config loading, services
 * and exit codes as `./bin/keyplane`, without a Node start per call (1.5-3 s on a loaded
 * machine). Same options and answer as `runKeyplane`; `signal` is always null. Keep the real
 * binary (`runKeyplane`) for what only a process shows: the shebang, the banner, signals.
 */
export async function runKeyplaneInProcess(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {},
): Promise<RunResult> {
  const stdout = collector();
  const stderr = collector();
  const code = await runCli(args, {
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdin: Readable.from([Buffer.from(options.input ?? '')]),
    env: cleanEnv(options.env ?? {}),
    cwd: options.cwd ?? tempDir(),
  });
  return { code, signal: null, stdout: stdout.text(), stderr: stderr.text() };
}
