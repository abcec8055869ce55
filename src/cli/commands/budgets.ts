import type { Command } from 'commander';
import {
  BUDGET_MODES,
  BUDGET_PERIODS,
  budgetInput,
  budgetPatchInput,
  type Budget,
} from '../../budgets/index.ts';
import { cliActor, output, table, withServices } from '../context.ts';
import { parseFlags } from '../input.ts';

/** `50,80,100` (a `%` after each is fine) as numbers; the schema checks them. */
function listOf(text: string | undefined): number[] | undefined {
  return text?.split(',').map((t) => Number(t.trim().replace(/%$/, '')));
}

/** The CLI's words for a bad flag (README, Budgets); others read `--amount: <problem>`. */
const MESSAGES = {
  period: `error: --period must be one of ${BUDGET_PERIODS.join(', ')}`,
  mode: `error: --mode must be one of ${BUDGET_MODES.join(', ')}`,
  thresholds: 'error: --thresholds must look like 50,80,100 (whole percentages from 1 to 1000)',
};

function rows(budgets: Budget[]) {
  return table(
    budgets.map((b) => ({
      id: b.id,
      scope: b.keyId ?? 'client',
      period: b.period,
      mode: b.mode,
      amount: `${b.amount} ${b.currency}`,
      spent: `${b.current.spent} (${Math.floor((b.current.spentMicros * 100) / b.amountMicros)}%)`,
      until: b.current.periodEnd,
      alerts: b.thresholds
        .map((t) => (b.current.alerted.includes(t) ? `${t}%✓` : `${t}%`))
        .join(' '),
    })),
    ['id', 'scope', 'period', 'mode', 'amount', 'spent', 'until', 'alerts'],
  );
}

/** `keyplane budgets …`: money limits per period on a client or a key (README, Budgets). */
export function budgetsCommand(program: Command) {
  const cmd = program
    .command('budgets')
    .description("a client's spend budgets (per client or per key)");
  setCommand(cmd);
  listCommand(cmd);
  updateCommand(cmd);
  deleteCommand(cmd);
}

function setCommand(cmd: Command) {
  cmd
    .command('set')
    .description('set a budget on a client, or on one of its keys with --key')
    .requiredOption('--client <id>', 'client id')
    .option('--key <keyId>', 'only this key (default: the whole client)')
    .requiredOption('--amount <amount>', "in the client's currency, e.g. 100 or 12.50")
    .option('--period <period>', BUDGET_PERIODS.join(' | '), 'month')
    .option(
      '--mode <mode>',
      'hard (refuse calls that would exceed it) | soft (alerts only)',
      'hard',
    )
    .option('--thresholds <list>', 'alert percentages', '50,80,100')
    .option('--json', 'machine-readable output: the budget')
    .action(
      async (opts: {
        client: string;
        key?: string;
        amount: string;
        period: string;
        mode: string;
        thresholds: string;
        json?: boolean;
      }) => {
        const { amount, period, mode } = opts;
        const flags = { amount, period, mode, thresholds: listOf(opts.thresholds) };
        const input = { ...parseFlags(budgetInput, flags, MESSAGES), keyId: opts.key ?? null };
        await withServices(async (s) => {
          const budget = await s.budgets.create(opts.client, input, cliActor());
          output(opts, budget, () => `budget ${budget.id} set\n${rows([budget])}`);
        });
      },
    );
}

function listCommand(cmd: Command) {
  cmd
    .command('list')
    .description("a client's budgets and the spend of their current period")
    .requiredOption('--client <id>', 'client id')
    .option('--key <keyId>', "only this key's budgets")
    .option('--json', 'machine-readable output: {data}')
    .action(async (opts: { client: string; key?: string; json?: boolean }) => {
      await withServices(async (s) => {
        const data = opts.key
          ? await s.budgets.listForKey(opts.client, opts.key)
          : await s.budgets.list(opts.client);
        output(opts, { data }, () => rows(data));
      });
    });
}

function updateCommand(cmd: Command) {
  cmd
    .command('update <budgetId>')
    .description("change a budget's amount, mode or thresholds")
    .requiredOption('--client <id>', 'client id')
    .option('--amount <amount>')
    .option('--mode <mode>', 'hard | soft')
    .option('--thresholds <list>', 'alert percentages, e.g. 50,80,100')
    .option('--json', 'machine-readable output: the budget')
    .action(
      async (
        budgetId: string,
        opts: {
          client: string;
          amount?: string;
          mode?: string;
          thresholds?: string;
          json?: boolean;
        },
      ) => {
        const { amount, mode } = opts;
        const flags = { amount, mode, thresholds: listOf(opts.thresholds) };
        const patch = parseFlags(budgetPatchInput, flags, MESSAGES);
        await withServices(async (s) => {
          const budget = await s.budgets.update(opts.client, budgetId, patch, cliActor());
          output(opts, budget, () => `budget ${budget.id} updated\n${rows([budget])}`);
        });
      },
    );
}

function deleteCommand(cmd: Command) {
  cmd
    .command('delete <budgetId>')
    .description('remove a budget (its spend and alerts go with it)')
    .requiredOption('--client <id>', 'client id')
    .option('--json', 'machine-readable output')
    .action(async (budgetId: string, opts: { client: string; json?: boolean }) => {
      await withServices(async (s) => {
        await s.budgets.delete(opts.client, budgetId, cliActor());
        output(opts, { deleted: budgetId }, () => `budget ${budgetId} deleted`);
      });
    });
}
