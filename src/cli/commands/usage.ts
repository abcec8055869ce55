import type { Command } from 'commander';
import { resolveRange, type UsageGroupBy } from '../../usage/index.ts';
import { output, table, withServices, usageError } from '../context.ts';

const GROUPS = ['day', 'endpoint', 'key', 'client'];

export function usageCommand(program: Command) {
  program
    .command('usage')
    .description('calls and cost in [from, to), grouped (all clients, or one with --client)')
    .option('--client <id>', 'only this client')
    .option('--from <date>', 'inclusive start, ISO date or timestamp (default: 30 days ago)')
    .option('--to <date>', 'exclusive end, ISO date or timestamp (default: now)')
    .option('--by <group>', 'day | endpoint | key | client', 'day')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: { client?: string; from?: string; to?: string; by: string; json?: boolean }) => {
        if (!GROUPS.includes(opts.by))
          throw usageError(`error: --by must be one of ${GROUPS.join(', ')}`);
        await withServices(async (s) => {
          const range = resolveRange(opts, s.clock.now());
          const summary = await s.usage.summary({
            clientIds: opts.client ? [opts.client] : undefined,
            ...range,
            groupBy: opts.by as UsageGroupBy,
          });
          output(opts, summary, () =>
            [
              `usage ${summary.from} → ${summary.to}${opts.client ? ` for ${opts.client}` : ''}`,
              '',
              table(
                summary.groups.map((g) => ({ ...g, cost: `${g.cost} ${summary.currency}` })),
                ['group', 'calls', 'testCalls', 'cost'],
              ),
              '',
              `total: ${summary.totals.calls} calls (${summary.totals.testCalls} test), ${summary.totals.cost} ${summary.currency}`,
            ].join('\n'),
          );
        });
      },
    );
}
