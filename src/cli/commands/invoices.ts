import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { formatMoney, type Invoice, type RunProgress } from '../../billing/index.ts';
import {
  cliActor,
  output,
  table,
  withServices,
  setExitCode,
  cliIo,
  type CliWritable,
} from '../context.ts';

const PHASES: Record<RunProgress['phase'], string> = {
  usage: 'reading usage',
  issue: 'issuing invoices',
  send: 'sending invoices',
};

/**
 * Progress of a long run on stderr: a bar on a terminal, plain lines otherwise (logs, CI),
 * at most one line per 10 % so a 10,000-client run stays readable.
 */
export function runProgress(stream: CliWritable = cliIo().stderr) {
  let bar: cliProgress.SingleBar | null = null;
  let phase: RunProgress['phase'] | null = null;
  let lastDecile = -1;
  return {
    update(p: RunProgress) {
      if (p.phase !== phase) {
        bar?.stop();
        bar = null;
        phase = p.phase;
        lastDecile = -1;
        if (stream.isTTY && p.total > 1) {
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: `${PHASES[p.phase].padEnd(17)} [{bar}] {percentage}% {value}/{total} eta {eta_formatted}`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.total, p.done);
          return;
        }
      }
      if (bar) {
        bar.update(p.done);
        return;
      }
      const decile = p.total ? Math.floor((p.done / p.total) * 10) : 10;
      if (decile === lastDecile) return;
      lastDecile = decile;
      stream.write(`${PHASES[p.phase]}: ${p.done}/${p.total}\n`);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

function invoiceRow(i: Invoice) {
  return {
    id: i.id,
    number: i.number,
    client: i.clientId,
    period: i.period,
    status: i.status,
    total: formatMoney(i.totalMicros, i.currency),
    sentAt: i.sentAt ?? '',
  };
}

function showInvoice(i: Invoice): string {
  const lines = [
    `${i.number}  (${i.id})`,
    `client:   ${i.billTo.company.name ?? i.billTo.name} (${i.clientId})`,
    `period:   ${i.period}  [${i.periodStart} – ${i.periodEnd})`,
    `status:   ${i.status}${i.sentAt ? `, sent ${i.sentAt}` : ''}${i.paidAt ? `, paid ${i.paidAt}` : ''}${i.voidedAt ? `, voided ${i.voidedAt}` : ''}`,
    `total:    ${formatMoney(i.totalMicros, i.currency)} (${i.totalMicros} micros ${i.currency})`,
    '',
    table(
      i.lineItems.map((l) => ({
        endpoint: l.endpoint,
        calls: l.calls,
        unitPrice: formatMoney(l.unitPriceMicros, i.currency),
        amount: formatMoney(l.amountMicros, i.currency),
      })),
      ['endpoint', 'calls', 'unitPrice', 'amount'],
    ),
  ];
  if (i.deliveries?.length) {
    lines.push(
      '',
      'deliveries:',
      table(
        i.deliveries.map((d) => ({ ...d, transient: d.transient ? 'yes' : '' })),
        ['attempt', 'createdAt', 'to', 'status', 'smtpCode', 'transient', 'error'],
      ),
    );
  }
  return lines.join('\n');
}

export function invoicesCommand(program: Command) {
  const cmd = program
    .command('invoices')
    .description('invoice runs, invoices, delivery by email (works on the store directly)');
  runCommand(cmd);
  listCommand(cmd);
  showCommand(cmd);
  sendCommand(cmd);
  settleCommands(cmd);
}

function runCommand(cmd: Command) {
  cmd
    .command('run')
    .description(
      'issue one invoice per client for a period (default: the last completed ISO week); idempotent',
    )
    .option('--period <period>', 'ISO week (2025-W40) or month (2025-10, for monthly clients)')
    .option('--send', 'email every unsent invoice of the period (KEYPLANE_SMTP_URL)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { period?: string; send?: boolean; json?: boolean }) => {
      await withServices(async (s) => {
        const progress = runProgress();
        let result;
        try {
          result = await s.billing.run({
            period: opts.period,
            send: Boolean(opts.send),
            actor: cliActor(),
            onProgress: (p) => progress.update(p),
          });
        } finally {
          progress.stop();
        }
        output(opts, result, () =>
          [
            `period ${result.period} (${result.kind}): ${result.clients} client(s) due`,
            `  issued now:      ${result.created}`,
            `  already issued:  ${result.existing}`,
            ...(opts.send ? [`  sent: ${result.sent}, failed: ${result.sendFailed}`] : []),
            `  took ${result.durationMs} ms`,
          ].join('\n'),
        );
      });
    });
}

function listCommand(cmd: Command) {
  cmd
    .command('list')
    .description('list invoices, newest first')
    .option('--client <id>', 'only this client')
    .option('--period <period>', 'only this period')
    .option('--status <status>', 'issued | sent | paid | void')
    .option('--limit <n>', 'page size (max 1000)', '50')
    .option('--cursor <id>', 'nextCursor of the previous page')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        client?: string;
        period?: string;
        status?: string;
        limit: string;
        cursor?: string;
        json?: boolean;
      }) => {
        await withServices(async (s) => {
          const page = await s.billing.list({
            clientId: opts.client,
            period: opts.period,
            status: opts.status as never,
            limit: Number(opts.limit),
            cursor: opts.cursor,
          });
          output(opts, page, () =>
            [
              table(page.data.map(invoiceRow), [
                'id',
                'number',
                'client',
                'period',
                'status',
                'total',
                'sentAt',
              ]),
              page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : '',
            ].join(''),
          );
        });
      },
    );
}

function showCommand(cmd: Command) {
  cmd
    .command('show <id>')
    .description('show an invoice with its delivery attempts')
    .option('--html <file>', 'also write the printable HTML page to FILE')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { html?: string; json?: boolean }) => {
      await withServices(async (s) => {
        const invoice = await s.billing.get(id);
        if (opts.html)
          writeFileSync(resolve(cliIo().cwd, opts.html), s.billing.renderHtml(invoice));
        output(
          opts,
          { invoice },
          () => showInvoice(invoice) + (opts.html ? `\n\nHTML written to ${opts.html}` : ''),
        );
      });
    });
}

function sendCommand(cmd: Command) {
  cmd
    .command('send <id>')
    .description('email (or re-email) an invoice now')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const r = await s.billing.send(id, cliActor());
        output(opts, r, () =>
          r.delivered
            ? `sent ${r.invoice.number} to ${r.invoice.deliveries?.at(-1)?.to ?? '?'}`
            : `not delivered: ${r.error ?? 'unknown error'}${r.invoice.nextSendAt ? ` (retry at ${r.invoice.nextSendAt})` : ''}`,
        );
        if (!r.delivered) setExitCode(1);
      });
    });
}

/** void and paid: the invoice's final state. */
function settleCommands(cmd: Command) {
  cmd
    .command('void <id>')
    .description('void an issued or sent invoice (it keeps its number)')
    .option('--reason <text>', 'why')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { reason?: string; json?: boolean }) => {
      await withServices(async (s) => {
        const invoice = await s.billing.void(id, cliActor(), opts.reason);
        output(opts, { invoice }, () => `voided ${invoice.number}`);
      });
    });

  cmd
    .command('paid <id>')
    .description('record that an invoice was paid')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const invoice = await s.billing.markPaid(id, cliActor());
        output(opts, { invoice }, () => `${invoice.number} marked paid`);
      });
    });
}
