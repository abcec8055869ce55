import type { Command } from 'commander';
import {
  PAYMENT_METHODS,
  type PaymentDetails,
  type PaymentDetailsInput,
} from '../../billing/index.ts';
import { cliActor, output, withServices, usageError } from '../context.ts';

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
  const method = opts.method ?? current?.method ?? 'bank_transfer';
  if (!(PAYMENT_METHODS as readonly string[]).includes(method)) {
    throw usageError(`--method must be one of ${PAYMENT_METHODS.join(', ')}`);
  }
  const frequency = opts.frequency ?? current?.frequency ?? 'weekly';
  if (frequency !== 'weekly' && frequency !== 'monthly') {
    throw usageError('--frequency must be weekly or monthly');
  }
  if (opts.invoiceEmpty !== undefined && !/^(yes|no|default)$/.test(opts.invoiceEmpty)) {
    throw usageError('--invoice-empty must be yes, no or default');
  }
  return {
    method: method as PaymentDetails['method'],
    frequency,
    billingEmail: opts.email ?? current?.billingEmail ?? null,
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
}
