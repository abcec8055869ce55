import { Command } from 'commander';
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

export function buildProgram(): Command {
  const program = new Command('keyplane')
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
  return program;
}
