import { runCli } from './program.ts';

// `serve` sets process.exitCode itself when a graceful stop fails; keep it unless runCli failed.
const code = await runCli(process.argv.slice(2));
if (code !== 0) process.exitCode = code;
