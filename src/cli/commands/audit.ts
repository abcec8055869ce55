import type { Command } from 'commander';
import { output, table, withServices, setExitCode, countOption } from '../context.ts';

export function auditCommand(program: Command) {
  const cmd = program
    .command('audit')
    .description('list the audit log (newest first), or verify its hash chain')
    // `audit verify --json` is verify's --json; without this, audit's own --json swallows it.
    .enablePositionalOptions()
    .option('--client <id>', 'only entries about this client')
    .option('--action <action>', 'only this action, e.g. client.created')
    .option('--target <id>', 'only entries about this object')
    .option('--limit <n>', 'how many entries', '50')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        client?: string;
        action?: string;
        target?: string;
        limit: string;
        json?: boolean;
      }) => {
        const limit = countOption(opts.limit, '--limit', 1000);
        await withServices(async (s) => {
          const page = await s.audit.list({
            clientId: opts.client,
            action: opts.action,
            targetId: opts.target,
            limit,
          });
          output(opts, page, () =>
            table(
              page.data.map((e) => ({
                ...e,
                actor: `${e.actorType}:${e.actorId}`,
                target: `${e.targetType}${e.targetId ? ':' + e.targetId : ''}`,
              })),
              ['seq', 'createdAt', 'actor', 'action', 'target', 'clientId', 'ip'],
            ),
          );
        });
      },
    );
  cmd
    .command('verify')
    .description(
      'check the hash chain; exits 1 and names the first bad entry if any row was edited, removed or reordered',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const verdict = await s.audit.verify();
        output(opts, verdict, () =>
          verdict.ok
            ? `audit log intact: ${verdict.entries} entries, chain verified`
            : `audit log TAMPERED: first bad entry is ${verdict.firstBadSeq}: ${verdict.reason}`,
        );
        if (!verdict.ok) setExitCode(1);
      });
    });
}
