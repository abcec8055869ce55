import type { Command } from 'commander';
import { cliActor, output, table, withServices } from '../context.ts';

export function adminTokensCommand(program: Command) {
  const cmd = program
    .command('admin-tokens')
    .description('manage admin tokens (works on the store directly)');
  cmd
    .command('create')
    .description('create an admin token; the token is printed once')
    .requiredOption('--name <name>', 'what the token is for')
    .option('--scopes <scopes>', 'comma-separated scopes (default: admin)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { name: string; scopes?: string; json?: boolean }) => {
      await withServices(async (s) => {
        const created = await s.adminTokens.create({
          name: opts.name,
          scopes: opts.scopes
            ?.split(',')
            .map((x) => x.trim())
            .filter(Boolean),
          actor: cliActor(),
        });
        output(opts, created, () =>
          [
            `admin token ${created.adminToken.id} (${created.adminToken.scopes.join(', ')})`,
            '',
            `  ${created.token}`,
            '',
            'Save it now: it is shown only once and cannot be retrieved later.',
          ].join('\n'),
        );
      });
    });
  cmd
    .command('list')
    .description('list admin tokens')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const data = await s.adminTokens.list();
        output(opts, { data }, () =>
          table(
            data.map((t) => ({ ...t, scopes: t.scopes.join(',') })),
            ['id', 'name', 'start', 'scopes', 'status', 'createdAt', 'lastUsedAt'],
          ),
        );
      });
    });
  cmd
    .command('revoke <id>')
    .description('revoke an admin token')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const adminToken = await s.adminTokens.revoke(id, cliActor());
        output(opts, { adminToken }, () => `revoked ${adminToken.id} (${adminToken.name})`);
      });
    });
}
