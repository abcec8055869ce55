import { Command, CommanderError } from 'commander';
import { formatError, processIo, withCliRun, type CliIo } from './context.ts';
import { adminTokensCommand } from './commands/admin-tokens.ts';
import { auditCommand } from './commands/audit.ts';
import { billingCommand } from './commands/billing.ts';
import { clientsCommand } from './commands/clients.ts';
import { credentialsCommand } from './commands/credentials.ts';
import { keysCommand } from './commands/keys.ts';
import { invoicesCommand } from './commands/invoices.ts';
import { migrateCommand } from './commands/migrate.ts';
import { usageCommand } from './commands/usage.ts';
import { serveCommand } from './commands/serve.ts';
import { scanCommand } from './commands/scan.ts';
import { importCommand } from './commands/import.ts';
import { budgetsCommand } from './commands/budgets.ts';
import { webhooksCommand } from './commands/webhooks.ts';

/**
 * The whole CLI as one commander program. Output and exit go through `io` and `exitOverride`, so
 * the program never calls `process.exit`: the binary and in-process tests run the same code.
 * Settings made here are inherited by every command added after them.
 */
export function buildProgram(io: CliIo = processIo()): Command {
  const program = new Command('keyplane')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .description(
      'Keyplane: API keys, rate limits, metering, invoices and a credentials vault for your API',
    )
    .version('0.1.0')
    .showHelpAfterError()
    // Options belong to the command they follow: `audit verify --json` is verify's --json, not
    // audit's (a group with its own options also calls enablePositionalOptions).
    .enablePositionalOptions()
    .addHelpText(
      'after',
      '\nConfiguration comes from KEYPLANE_* variables over keyplane.config.json|yaml (see README).',
    );
  serveCommand(program);
  migrateCommand(program);
  clientsCommand(program);
  keysCommand(program);
  credentialsCommand(program);
  usageCommand(program);
  billingCommand(program); // adds `clients payment`: after clientsCommand
  invoicesCommand(program);
  adminTokensCommand(program);
  auditCommand(program);
  scanCommand(program);
  importCommand(program);
  budgetsCommand(program);
  webhooksCommand(program);
  return program;
}

/**
 * Runs `keyplane ARGS…` (without `node` and the script) and resolves with its exit code: 0 done,
 * 1 failed or a usage error, 2 bad configuration (README, CLI). Never throws.
 */
export async function runCli(args: string[], io: CliIo = processIo()): Promise<number> {
  let failed = 0;
  const code = await withCliRun(io, async () => {
    try {
      await buildProgram(io).parseAsync(args, { from: 'user' });
    } catch (err) {
      // Commander has already printed its own message (usage error, --help, --version).
      if (err instanceof CommanderError) {
        failed = err.exitCode;
        return;
      }
      const { code, text } = formatError(err);
      io.stderr.write(text + '\n');
      failed = code;
    }
  });
  return failed || code;
}
