import type { Command } from 'commander';
import {
  createClientInput,
  listClientsFilter,
  suspendClientInput,
  updateClientInput,
  type Client,
} from '../../clients/index.ts';
import type { ApiKey } from '../../keys/index.ts';
import { cliActor, countOption, output, table, withServices, usageError } from '../context.ts';
import { parseFlags } from '../input.ts';

/** Seed 01's banner: the key is shown once, loudly, on a terminal. */
export function keyBanner(title: string, lines: string[], apiKey: string): string {
  const rule = '='.repeat(80);
  return [
    rule,
    `✅ ${title}`,
    rule,
    ...lines,
    '',
    `🔑 API Key: ${apiKey}`,
    '',
    '⚠️  IMPORTANT: Save this API key! It is shown only once and cannot be retrieved later.',
    rule,
  ].join('\n');
}

export function keyRows(keys: ApiKey[]) {
  return table(
    keys.map((k) => ({
      ...k,
      scopes: k.scopes.join(','),
      expires: k.expiresAt ?? '',
      lastUsed: k.lastUsedAt ?? '',
      // Imported by hash (issue 20): the operator retires these by rolling them.
      status: k.legacy ? `${k.status} (legacy)` : k.status,
    })),
    ['id', 'start', 'name', 'environment', 'status', 'scopes', 'expires', 'lastUsed', 'createdAt'],
  );
}

function clientLines(c: Client): string[] {
  return [
    `Client ID: ${c.id}`,
    `Name:      ${c.name}`,
    `Email:     ${c.email ?? ''}`,
    `Tier:      ${c.tier}`,
    `Status:    ${c.status}`,
    `Created:   ${c.createdAt}`,
  ];
}

function parseMeta(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw usageError('error: --meta must be a JSON object');
  }
}

/** Usage errors for the fields whose flag has another name (`--meta`, `--env`). */
const FLAG_MESSAGES = {
  metadata: 'error: --meta: must be at most 8 KiB of JSON',
  environment: 'error: --env must be live or test',
};

interface ClientFlags {
  name: string;
  email: string;
  tier: string;
  meta?: string;
}

/** The client fields `create` and `update` take, as the HTTP body names them; only those given. */
function clientFields(opts: Partial<ClientFlags>): Record<string, unknown> {
  const fields = {
    name: opts.name,
    email: opts.email,
    tier: opts.tier,
    metadata: parseMeta(opts.meta),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

export function clientsCommand(program: Command) {
  const cmd = program.command('clients').description('manage clients (tenants)');
  createCommand(cmd);
  listCommand(cmd);
  showCommand(cmd);
  updateCommand(cmd);
  statusCommands(cmd);
  deleteCommand(cmd);
}

function createCommand(cmd: Command) {
  cmd
    .command('create')
    .description('create a client and its first API key (printed once)')
    .requiredOption('--name <name>', 'client name')
    .requiredOption('--email <email>', 'contact and billing email')
    .option('--tier <tier>', 'pricing / rate-limit tier', 'default')
    .option('--env <env>', 'environment of the first key: live or test', 'live')
    .option('--meta <json>', 'metadata as a JSON object')
    .option('--json', 'machine-readable output: {client, key, apiKey}')
    .action(async (opts: ClientFlags & { env: string; json?: boolean }) => {
      const { environment, ...input } = parseFlags(
        createClientInput,
        { ...clientFields(opts), environment: opts.env },
        FLAG_MESSAGES,
      );
      await withServices(async (s) => {
        const created = await s.clients.create(input, cliActor(), { environment });
        output(opts, created, () =>
          keyBanner('CLIENT CREATED SUCCESSFULLY', clientLines(created.client), created.apiKey),
        );
      });
    });
}

type ClientWithKeys = Client & { keys: ApiKey[] };

/** One line per client, then one per key (● active, ○ revoked). */
function clientListText(data: ClientWithKeys[]): string {
  if (!data.length) return '(no clients)';
  return data
    .map((c) =>
      [
        `${c.id}  ${c.name} <${c.email ?? ''}>  tier=${c.tier}  status=${c.status}  created=${c.createdAt}`,
        ...c.keys.map(
          (k) =>
            `    ${k.status === 'active' ? '●' : '○'} ${k.id}  ${k.start}…  ${k.environment}  ${k.status}${k.name ? `  "${k.name}"` : ''}`,
        ),
      ].join('\n'),
    )
    .join('\n');
}

function listCommand(cmd: Command) {
  cmd
    .command('list')
    .description('list clients with their keys (active and revoked)')
    .option('--status <status>', 'active, suspended or deleted')
    .option('--search <text>', 'only clients whose name, email, id or tier contains it')
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'machine-readable output')
    .action(async (opts: { status?: string; search?: string; limit: string; json?: boolean }) => {
      const filter = parseFlags(listClientsFilter, opts, FLAG_MESSAGES);
      const limit = countOption(opts.limit, '--limit', 1000);
      await withServices(async (s) => {
        const page = await s.clients.list({ ...filter, limit });
        const data = await Promise.all(
          page.data.map(async (c) => ({
            ...c,
            keys: (await s.keys.list(c.id, { limit: 1000 })).data,
          })),
        );
        output(opts, { data, nextCursor: page.nextCursor }, () => clientListText(data));
      });
    });
}

function showCommand(cmd: Command) {
  cmd
    .command('show <id>')
    .description('show a client and its keys')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const client = await s.clients.get(id);
        const keys = (await s.keys.list(id, { limit: 1000 })).data;
        output(opts, { client, keys }, () =>
          [...clientLines(client), '', keyRows(keys)].join('\n'),
        );
      });
    });
}

function updateCommand(cmd: Command) {
  cmd
    .command('update <id>')
    .description("change a client's name, email, tier or metadata")
    .option('--name <name>')
    .option('--email <email>')
    .option('--tier <tier>')
    .option('--meta <json>', 'metadata as a JSON object (replaces it)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: Partial<ClientFlags> & { json?: boolean }) => {
      const input = parseFlags(updateClientInput, clientFields(opts), FLAG_MESSAGES);
      await withServices(async (s) => {
        const client = await s.clients.update(id, input, cliActor());
        output(opts, { client }, () => clientLines(client).join('\n'));
      });
    });
}

/** `revoke` suspends a client (all its keys stop at once), `reactivate` undoes it. */
function statusCommands(cmd: Command) {
  cmd
    .command('revoke <id>')
    .description('suspend a client: all its keys stop at once (reversible with reactivate)')
    .option('--reason <reason>')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { reason?: string; json?: boolean }) => {
      const { reason } = parseFlags(suspendClientInput, { reason: opts.reason }, FLAG_MESSAGES);
      await withServices(async (s) => {
        const client = await s.clients.suspend(id, cliActor(), reason);
        output(
          opts,
          { client },
          () => `suspended ${client.id} (${client.name}): its keys no longer work`,
        );
      });
    });

  cmd
    .command('reactivate <id>')
    .description('reactivate a suspended client')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const client = await s.clients.reactivate(id, cliActor());
        output(opts, { client }, () => `reactivated ${client.id} (${client.name})`);
      });
    });
}

function deleteCommand(cmd: Command) {
  cmd
    .command('delete <id>')
    .description(
      'delete a client permanently (keys destroyed, PII scrubbed; usage and invoices kept)',
    )
    .option('--yes', 'confirm: this cannot be undone')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { yes?: boolean; json?: boolean }) => {
      if (!opts.yes)
        throw usageError('error: deleting a client cannot be undone; add --yes to confirm');
      await withServices(async (s) => {
        const client = await s.clients.delete(id, cliActor());
        output(
          opts,
          { client },
          () => `deleted ${client.id}: keys destroyed, personal data scrubbed`,
        );
      });
    });
}
