import type { Command } from 'commander';
import {
  PAYMENT_METHODS,
  paymentDetailsInput,
  type PaymentDetails,
  type PaymentDetailsInput,
} from '../../billing/index.ts';
import { cliActor, output, withServices, usageError } from '../context.ts';
import { parseInput } from '../input.ts';

function describe(d: PaymentDetails | null, clientId: string): string {
  if (!d)
    return `${clientId}: no payment details (billed weekly in the default currency, to the client's email)`;
  return [
    `payment details of ${d.clientId}`,
    `  method:     ${d.method}`,
    `  frequency:  ${d.frequency}`,
    `  email:      ${d.billingEmail ?? "(the client's email)"}`,
    `  currency:   ${d.currency}`,
    `  company:    ${d.company.name ?? ''}${d.company.vatId ? ` (VAT ${d.company.vatId})` : ''}`,
    ...(d.company.address ? [`  address:    ${d.company.address.replace(/\n/g, ', ')}`] : []),
    `  empty invoices: ${d.invoiceWhenEmpty === null ? 'config default' : d.invoiceWhenEmpty ? 'yes' : 'no'}`,
  ].join('\n');
}

/**
 * `keyplane clients payment ID …`: billing's part of the clients command group. Registered
 * after `clientsCommand`, it adds itself to the existing `clients` command.
 */
export function billingCommand(program: Command) {
  const clients =
    program.commands.find((c) => c.name() === 'clients') ??
    program.command('clients').description('manage clients (tenants)');
  clients
    .command('payment <id>')
    .description('show or set a client’s payment details (no options: show)')
    .option('--method <method>', PAYMENT_METHODS.join(' | '))
    .option('--frequency <frequency>', 'weekly | monthly (default weekly)')
    .option('--email <email>', 'billing email (default: the client’s email)')
    .option('--currency <code>', 'invoice currency, e.g. EUR')
    .option('--company <name>', 'company name on invoices')
    .option('--address <text>', 'company address (use \\n for line breaks)')
    .option('--vat-id <id>', 'company VAT id')
    .option('--invoice-empty <yes|no>', 'issue invoices without billable usage')
    .option('--json', 'machine-readable output')
    .action(paymentAction);
}

interface PaymentOptions {
  method?: string;
  frequency?: string;
  email?: string;
  currency?: string;
  company?: string;
  address?: string;
  vatId?: string;
  invoiceEmpty?: string;
  json?: boolean;
}

/** No setting option: show. Otherwise the options change the current details. */
async function paymentAction(id: string, opts: PaymentOptions) {
  await withServices(async (s) => {
    const setting = [
      opts.method,
      opts.frequency,
      opts.email,
      opts.currency,
      opts.company,
      opts.address,
      opts.vatId,
      opts.invoiceEmpty,
    ].some((v) => v !== undefined);
    if (!setting) {
      const paymentDetails = await s.billing.getPaymentDetails(id);
      output(opts, { paymentDetails }, () => describe(paymentDetails, id));
      return;
    }
    const current = await s.billing.getPaymentDetails(id);
    const paymentDetails = await s.billing.setPaymentDetails(
      id,
      paymentInput(opts, current),
      cliActor(),
    );
    output(opts, { paymentDetails }, () => describe(paymentDetails, id));
  });
}

function paymentInput(opts: PaymentOptions, current: PaymentDetails | null): PaymentDetailsInput {
  if (opts.invoiceEmpty !== undefined && !/^(yes|no|default)$/.test(opts.invoiceEmpty)) {
    throw usageError('--invoice-empty must be yes, no or default');
  }
  const raw = {
    method: opts.method ?? current?.method ?? 'bank_transfer',
    frequency: opts.frequency ?? current?.frequency ?? 'weekly',
    billingEmail: opts.email === '' ? null : (opts.email ?? current?.billingEmail ?? null),
    currency: opts.currency?.toUpperCase() ?? current?.currency,
    company: {
      name: opts.company ?? current?.company.name ?? null,
      address: opts.address?.replace(/\\n/g, '\n') ?? current?.company.address ?? null,
      vatId: opts.vatId ?? current?.company.vatId ?? null,
    },
    invoiceWhenEmpty:
      opts.invoiceEmpty === undefined
        ? (current?.invoiceWhenEmpty ?? null)
        : opts.invoiceEmpty === 'default'
          ? null
          : opts.invoiceEmpty === 'yes',
  };
  return parseInput(paymentDetailsInput, raw, PAYMENT_FLAGS);
}

/** The flag behind each field, for the schema's messages (`--email: must be an email address`). */
const PAYMENT_FLAGS = {
  method: '--method',
  frequency: '--frequency',
  billingEmail: '--email',
  currency: '--currency',
  company: '--company / --address / --vat-id',
};
