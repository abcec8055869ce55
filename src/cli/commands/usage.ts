import type { Command } from 'commander';
import { resolveRange, type UsageGroupBy } from '../../usage/index.ts';
import { output, table, withServices, usageError, countOption } from '../context.ts';

const GROUPS = ['day', 'endpoint', 'key', 'client'];

interface EventsOptions {
  client: string;
  key?: string;
  from?: string;
  to?: string;
  limit: string;
  cursor?: string;
  json?: boolean;
}

/** `keyplane usage events --client ID`: the stored calls as rows, a page at a time. */
function usageEventsCommand(usage: Command) {
  usage
    .command('events')
    .description("one client's metered calls in [from, to), one row each (oldest hour first)")
    .requiredOption('--client <id>', 'the client')
    .option('--key <id>', 'only this key')
    .option('--from <date>', 'inclusive start, ISO date or timestamp (default: 30 days ago)')
    .option('--to <date>', 'exclusive end, ISO date or timestamp (default: now)')
    .option('--limit <n>', 'page size (max 1000)', '50')
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .option('--json', 'machine-readable output')
    .action(async (opts: EventsOptions) => {
      const limit = countOption(opts.limit, '--limit', 1000);
      await withServices(async (s) => {
        const page = await s.usage.events({
          clientId: opts.client,
          keyId: opts.key,
          ...resolveRange(opts, s.clock.now()),
          limit,
          cursor: opts.cursor,
        });
        output(opts, page, () =>
          [
            table(page.data, [
              'createdAt',
              'requestId',
              'keyId',
              'endpoint',
              'status',
              'environment',
              'costMicros',
              'durationUs',
            ]),
            page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : '',
          ].join('\n'),
        );
      });
    });
}

export function usageCommand(program: Command) {
  const usage = program
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
  usageEventsCommand(usage);
}
