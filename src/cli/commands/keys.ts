import type { Command } from 'commander';
import { z } from 'zod';
import {
  createKeyInput,
  keyText,
  revokeKeyInput,
  rollKeyInput,
  type CreateKeyInput,
} from '../../keys/index.ts';
import { cliActor, output, withServices, usageError } from '../context.ts';
import { parseInput } from '../input.ts';
import { keyBanner, keyRows } from './clients.ts';

/** `keyplane keys create|list|revoke|reactivate|roll|delete`: one function per subcommand. */
export function keysCommand(program: Command) {
  const cmd = program.command('keys').description("manage a client's API keys");
  createCommand(cmd);
  listCommand(cmd);
  revokeCommand(cmd);
  reactivateCommand(cmd);
  rollCommand(cmd);
  deleteCommand(cmd);
}

interface CreateOptions {
  client: string;
  name?: string;
  description?: string;
  env: string;
  scopes?: string;
  ip?: string;
  expiresIn?: string;
  rateLimit?: string;
  credits?: string;
  refill?: string;
  json?: boolean;
}

function createCommand(cmd: Command) {
  cmd
    .command('create')
    .description('issue a new key for a client (printed once)')
    .requiredOption('--client <id>', 'client id')
    .option('--name <name>')
    .option('--description <text>')
    .option('--env <env>', 'live or test', 'live')
    .option('--scopes <a,b>', 'comma-separated scopes (* = all)')
    .option('--ip <cidr,...>', 'comma-separated IPv4/IPv6 CIDRs allowed to use the key')
    .option('--expires-in <duration>', 'e.g. 90d, 12h, 2s')
    .option('--rate-limit <n/window>', 'e.g. 100/60s')
    .option('--credits <n>', 'calls this key may make')
    .option('--refill <interval:amount>', 'credit refill, e.g. monthly:1000 or daily:100')
    .option('--json', 'machine-readable output: {key, apiKey}')
    .action(createKey);
}

/** Flag → field of createKeyInput, so that a refusal names the flag the operator typed. */
const CREATE_FLAGS: Record<string, string> = {
  name: '--name',
  description: '--description',
  environment: '--env',
  scopes: '--scopes',
  ipAllowlist: '--ip',
  expiresInSeconds: '--expires-in',
  rateLimit: '--rate-limit',
  credits: '--credits',
  refill: '--refill',
};

/** The create flags' text forms, parsed before any store opens; then createKeyInput's rules. */
const createFlags = z.object({
  env: keyText.environment('--env'),
  credits: keyText.count('--credits').optional(),
  refill: keyText.refill('--refill').optional(),
  expiresIn: keyText.seconds('--expires-in').optional(),
  rateLimit: keyText.rateLimit('--rate-limit').optional(),
  scopes: keyText.list.optional(),
  ip: keyText.list.optional(),
});

function createInputOf(opts: CreateOptions): CreateKeyInput {
  const flags = parseInput(createFlags, opts);
  return parseInput(
    createKeyInput,
    {
      name: opts.name,
      description: opts.description,
      environment: flags.env,
      scopes: flags.scopes,
      ipAllowlist: flags.ip,
      expiresInSeconds: flags.expiresIn,
      rateLimit: flags.rateLimit,
      credits: flags.credits,
      refill: flags.refill,
    },
    CREATE_FLAGS,
  );
}

async function createKey(opts: CreateOptions) {
  const input = createInputOf(opts);
  await withServices(async (s) => {
    const created = await s.keys.create(opts.client, input, cliActor());
    const k = created.key;
    output(opts, created, () =>
      keyBanner(
        'API KEY CREATED',
        [
          `Key ID:      ${k.id}`,
          `Client ID:   ${k.clientId}`,
          `Environment: ${k.environment}`,
          `Scopes:      ${k.scopes.join(', ') || '(none)'}`,
          `Expires:     ${k.expiresAt ?? 'never'}`,
        ],
        created.apiKey,
      ),
    );
  });
}

function listCommand(cmd: Command) {
  cmd
    .command('list')
    .description("list a client's keys")
    .requiredOption('--client <id>', 'client id')
    .option('--json', 'machine-readable output')
    .action(async (opts: { client: string; json?: boolean }) => {
      await withServices(async (s) => {
        await s.clients.get(opts.client);
        const page = await s.keys.list(opts.client, { limit: 1000 });
        output(opts, page, () => keyRows(page.data));
      });
    });
}

function revokeCommand(cmd: Command) {
  cmd
    .command('revoke <keyId>')
    .description('revoke a key (reversible with reactivate)')
    .option('--reason <reason>')
    .option('--json', 'machine-readable output')
    .action(async (keyId: string, opts: { reason?: string; json?: boolean }) => {
      const { reason } = parseInput(
        revokeKeyInput,
        { reason: opts.reason },
        { reason: '--reason' },
      );
      await withServices(async (s) => {
        const key = await s.keys.revoke(await s.keys.ownerOf(keyId), keyId, cliActor(), reason);
        output(
          opts,
          { key },
          () => `revoked ${key.id} (${key.start}…)${opts.reason ? `: ${opts.reason}` : ''}`,
        );
      });
    });
}

function reactivateCommand(cmd: Command) {
  cmd
    .command('reactivate <keyId>')
    .description('reactivate a revoked key')
    .option('--json', 'machine-readable output')
    .action(async (keyId: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const key = await s.keys.reactivate(await s.keys.ownerOf(keyId), keyId, cliActor());
        output(opts, { key }, () => `reactivated ${key.id} (${key.start}…)`);
      });
    });
}

function rollCommand(cmd: Command) {
  cmd
    .command('roll <keyId>')
    .description('issue a replacement key; the old one keeps working for the grace period')
    .option('--grace <duration>', 'how long the old key keeps working (0 = stop now)', '24h')
    .option('--json', 'machine-readable output: {key, apiKey, rolled}')
    .action(async (keyId: string, opts: { grace: string; json?: boolean }) => {
      const { gracePeriodSeconds: grace } = parseInput(
        rollKeyInput,
        { gracePeriodSeconds: parseInput(keyText.seconds('--grace'), opts.grace) },
        { gracePeriodSeconds: '--grace' },
      );
      await withServices(async (s) => {
        const rolled = await s.keys.roll(await s.keys.ownerOf(keyId), keyId, cliActor(), grace);
        output(opts, rolled, () =>
          keyBanner(
            'API KEY ROLLED',
            [
              `New key ID: ${rolled.key.id}`,
              `Old key ${rolled.rolled.id} ${grace === 0 ? 'stopped now' : `works until ${rolled.rolled.expiresAt}`}`,
            ],
            rolled.apiKey,
          ),
        );
      });
    });
}

function deleteCommand(cmd: Command) {
  cmd
    .command('delete <keyId>')
    .description('delete a key permanently')
    .option('--yes', 'confirm')
    .option('--json', 'machine-readable output')
    .action(async (keyId: string, opts: { yes?: boolean; json?: boolean }) => {
      if (!opts.yes) throw usageError('error: add --yes to delete a key permanently');
      await withServices(async (s) => {
        await s.keys.delete(await s.keys.ownerOf(keyId), keyId, cliActor());
        output(opts, { deleted: keyId }, () => `deleted ${keyId}`);
      });
    });
}
