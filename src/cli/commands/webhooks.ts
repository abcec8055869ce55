import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import {
  EVENT_SCHEMAS,
  EVENT_TYPES,
  type WebhookEndpoint,
  type WebhookMessage,
} from '../../webhooks/index.ts';
import { cliActor, output, table, usageError, withServices } from '../context.ts';

interface OwnerOpts {
  client?: string;
  json?: boolean;
}

/** `--client ID`: that client's own endpoints (checked to exist); else the operator's. */
async function ownerOf(s: Services, opts: OwnerOpts): Promise<string | null> {
  if (opts.client === undefined) return null;
  return (await s.clients.get(opts.client)).id;
}

function eventsOf(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

function whole(text: string | undefined, flag: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > max) throw usageError(`${flag} must be a whole number ≤ ${max}`);
  return n;
}

function endpointRows(endpoints: WebhookEndpoint[]): string {
  return table(
    endpoints.map((e) => ({
      ...e,
      owner: e.clientId ?? 'operator',
      events: e.eventTypes.length ? e.eventTypes.join(',') : '(all)',
      enabled: e.enabled ? 'yes' : `no${e.disabledReason ? ` (${e.disabledReason})` : ''}`,
    })),
    ['id', 'owner', 'url', 'events', 'enabled', 'description'],
  );
}

/** The secret, printed once: on `add` and `roll-secret` only. */
function withSecret(endpoint: WebhookEndpoint, secret: string, what: string): string {
  return [
    `${what} ${endpoint.id} → ${endpoint.url}`,
    '',
    `  signing secret: ${secret}`,
    '',
    'Save it now: it is shown only once and cannot be retrieved later.',
  ].join('\n');
}

function messageRows(messages: WebhookMessage[]): string {
  return table(
    messages.map((m) => ({
      id: m.id,
      type: m.eventType,
      client: m.clientId ?? '',
      createdAt: m.createdAt,
      deliveries: m.deliveries.map((d) => `${d.endpointId}:${d.status}/${d.attempts}`).join(' '),
    })),
    ['id', 'type', 'client', 'createdAt', 'deliveries'],
  );
}

function endpointsCommand(parent: Command) {
  const cmd = parent
    .command('endpoints')
    .description("the operator's endpoints (all events), or a client's with --client");
  addEndpointCommand(cmd);
  readEndpointCommands(cmd);
  updateEndpointCommand(cmd);
  deleteAndRollCommands(cmd);
}

function addEndpointCommand(cmd: Command) {
  cmd
    .command('add')
    .description('register an endpoint; its signing secret is printed once')
    .requiredOption('--url <url>', 'https URL (http and private addresses: development only)')
    .option('--client <id>', "a client's own endpoint (its own events only)")
    .option('--events <types>', 'comma-separated event types (default: every type)')
    .option('--description <text>', 'what it is for')
    .option('--disabled', 'register it disabled')
    .option('--json', 'machine-readable output: {endpoint, secret}')
    .action(
      async (
        opts: OwnerOpts & {
          url: string;
          events?: string;
          description?: string;
          disabled?: boolean;
        },
      ) => {
        await withServices(async (s) => {
          const created = await s.webhooks.createEndpoint(
            await ownerOf(s, opts),
            {
              url: opts.url,
              description: opts.description,
              eventTypes: eventsOf(opts.events),
              enabled: !opts.disabled,
            },
            cliActor(),
          );
          output(opts, created, () => withSecret(created.endpoint, created.secret, 'endpoint'));
        });
      },
    );
}

/** list and show. */
function readEndpointCommands(cmd: Command) {
  cmd
    .command('list')
    .description('list endpoints (never their secrets)')
    .option('--client <id>', "a client's endpoints")
    .option('--json', 'machine-readable output')
    .action(async (opts: OwnerOpts) => {
      await withServices(async (s) => {
        const data = await s.webhooks.listEndpoints(await ownerOf(s, opts));
        output(opts, { data }, () => endpointRows(data));
      });
    });
  cmd
    .command('show <id>')
    .description('one endpoint')
    .option('--client <id>', "a client's endpoint")
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: OwnerOpts) => {
      await withServices(async (s) => {
        const endpoint = await s.webhooks.getEndpoint(await ownerOf(s, opts), id);
        output(opts, { endpoint }, () => endpointRows([endpoint]));
      });
    });
}

function updateEndpointCommand(cmd: Command) {
  cmd
    .command('update <id>')
    .description('change an endpoint; --enable also clears a 5-day disable')
    .option('--client <id>', "a client's endpoint")
    .option('--url <url>', 'new URL')
    .option('--events <types>', "comma-separated event types ('' = every type)")
    .option('--description <text>', 'new description')
    .option('--enable', 'enable it')
    .option('--disable', 'disable it')
    .option('--json', 'machine-readable output')
    .action(
      async (
        id: string,
        opts: OwnerOpts & {
          url?: string;
          events?: string;
          description?: string;
          enable?: boolean;
          disable?: boolean;
        },
      ) => {
        if (opts.enable && opts.disable) throw usageError('give --enable or --disable, not both');
        const input = {
          url: opts.url,
          description: opts.description,
          eventTypes: eventsOf(opts.events),
          enabled: opts.enable ? true : opts.disable ? false : undefined,
        };
        if (Object.values(input).every((v) => v === undefined))
          throw usageError(
            'nothing to change: give --url, --events, --description, --enable or --disable',
          );
        await withServices(async (s) => {
          const endpoint = await s.webhooks.updateEndpoint(
            await ownerOf(s, opts),
            id,
            input,
            cliActor(),
          );
          output(opts, { endpoint }, () => endpointRows([endpoint]));
        });
      },
    );
}

/** delete and roll-secret. */
function deleteAndRollCommands(cmd: Command) {
  cmd
    .command('delete <id>')
    .description('delete an endpoint (its pending deliveries are dropped)')
    .option('--client <id>', "a client's endpoint")
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: OwnerOpts) => {
      await withServices(async (s) => {
        await s.webhooks.deleteEndpoint(await ownerOf(s, opts), id, cliActor());
        output(opts, { deleted: id }, () => `deleted ${id}`);
      });
    });
  cmd
    .command('roll-secret <id>')
    .description('a new signing secret, printed once; the old one also signs during the grace')
    .option('--client <id>', "a client's endpoint")
    .option('--grace <seconds>', 'how long the old secret keeps signing', '86400')
    .option('--json', 'machine-readable output: {endpoint, secret}')
    .action(async (id: string, opts: OwnerOpts & { grace: string }) => {
      const grace = whole(opts.grace, '--grace', 30 * 86400)!;
      await withServices(async (s) => {
        const rolled = await s.webhooks.rollSecret(await ownerOf(s, opts), id, cliActor(), grace);
        output(opts, rolled, () => withSecret(rolled.endpoint, rolled.secret, 'rolled'));
      });
    });
}

function messagesCommand(parent: Command) {
  const cmd = parent.command('messages').description('the events sent, and their deliveries');
  cmd
    .command('list')
    .description("newest first; --client: that client's messages and its endpoints' deliveries")
    .option('--client <id>', 'one client')
    .option('--type <eventType>', 'one event type')
    .option('--limit <n>', 'at most this many (1-500)', '50')
    .option('--cursor <id>', 'the nextCursor of the previous page')
    .option('--json', 'machine-readable output')
    .action(async (opts: OwnerOpts & { type?: string; limit: string; cursor?: string }) => {
      const limit = whole(opts.limit, '--limit', 500)!;
      if (opts.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(opts.type))
        throw usageError(`--type must be one of ${EVENT_TYPES.join(', ')}`);
      await withServices(async (s) => {
        const page = await s.webhooks.listMessages(await ownerOf(s, opts), {
          limit,
          cursor: opts.cursor,
          eventType: opts.type,
        });
        output(opts, page, () =>
          [
            messageRows(page.data),
            ...(page.nextCursor ? [`next: --cursor ${page.nextCursor}`] : []),
          ].join('\n'),
        );
      });
    });
  cmd
    .command('attempts <messageId>')
    .description('one message: its payload, deliveries and every attempt')
    .option('--client <id>', "as that client sees it (its endpoints' attempts only)")
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: OwnerOpts) => {
      await withServices(async (s) => {
        const message = await s.webhooks.getMessage(await ownerOf(s, opts), id);
        output(opts, { message }, () =>
          [
            `${message.id} ${message.eventType} (${message.createdAt})`,
            table(
              message.attempts.map((a) => ({ ...a, status: a.statusCode ?? a.error ?? '' })),
              ['endpointId', 'attempt', 'startedAt', 'durationMs', 'status', 'outcome'],
            ),
          ].join('\n'),
        );
      });
    });
}

/** `keyplane webhooks …`: endpoints, event types, the message log and replays (README, Webhooks). */
export function webhooksCommand(program: Command) {
  const cmd = program
    .command('webhooks')
    .description('signed event delivery: endpoints, event types, messages, replays');
  endpointsCommand(cmd);
  cmd
    .command('event-types')
    .description('every event type and when it is sent')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const data = EVENT_TYPES.map((type) => ({ type, summary: EVENT_SCHEMAS[type].summary }));
      output(opts, { data }, () => data.map((d) => `${d.type.padEnd(32)}${d.summary}`).join('\n'));
    });
  messagesCommand(cmd);
  cmd
    .command('replay <messageId>')
    .description('send a message again (same webhook-id) to every endpoint it went to, or one')
    .option('--client <id>', "to that client's endpoints only")
    .option('--endpoint <id>', 'only this endpoint')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: OwnerOpts & { endpoint?: string }) => {
      await withServices(async (s) => {
        const message = await s.webhooks.replay(
          await ownerOf(s, opts),
          id,
          cliActor(),
          opts.endpoint,
        );
        output(opts, { message }, () => `replay of ${message.id} queued`);
      });
    });
}
