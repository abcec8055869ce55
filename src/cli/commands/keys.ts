import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.ts';
import { AppError } from '../../lib/errors.ts';
import { cliActor, output, withServices, usageError } from '../context.ts';
import { keyBanner, keyRows } from './clients.ts';

/** `100/60s`, `1000/1h`, `10/s` → {limit, windowSeconds}. */
export function parseRateLimit(text: string): { limit: number; windowSeconds: number } {
  const m = /^(\d+)\/(\d*)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw usageError(`error: --rate-limit must look like 100/60s (got "${text}")`);
  const windowMs = parseDuration(`${m[2] || '1'}${m[3] ?? 's'}`);
  const windowSeconds = Math.round(windowMs / 1000);
  if (Number(m[1]) < 1 || windowSeconds < 1)
    throw usageError('error: --rate-limit needs a limit ≥ 1 and a window ≥ 1s');
  return { limit: Number(m[1]), windowSeconds };
}

function seconds(text: string, flag: string): number {
  try {
    return Math.round(parseDuration(text) / 1000);
  } catch (err) {
    if (err instanceof AppError) throw usageError(`error: ${flag}: ${err.message}`);
    throw err;
  }
}

const list = (text?: string) =>
  text
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);

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

async function createKey(opts: CreateOptions) {
  if (opts.env !== 'live' && opts.env !== 'test')
    throw usageError('error: --env must be live or test');
  const credits = opts.credits === undefined ? undefined : Number(opts.credits);
  if (credits !== undefined && (!Number.isInteger(credits) || credits < 0)) {
    throw usageError('error: --credits must be a whole number ≥ 0');
  }
  let refill: { interval: 'daily' | 'monthly'; amount: number } | undefined;
  if (opts.refill) {
    const m = /^(daily|monthly):(\d+)$/.exec(opts.refill);
    if (!m) throw usageError('error: --refill must be daily:N or monthly:N');
    refill = { interval: m[1] as 'daily' | 'monthly', amount: Number(m[2]) };
  }
  await withServices(async (s) => {
    const created = await s.keys.create(
      opts.client,
      {
        name: opts.name,
        description: opts.description,
        environment: opts.env as 'live' | 'test',
        scopes: list(opts.scopes),
        ipAllowlist: list(opts.ip),
        expiresInSeconds: opts.expiresIn ? seconds(opts.expiresIn, '--expires-in') : undefined,
        rateLimit: opts.rateLimit ? parseRateLimit(opts.rateLimit) : undefined,
        credits,
        refill,
      },
      cliActor(),
    );
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
      await withServices(async (s) => {
        const key = await s.keys.revoke(
          await s.keys.ownerOf(keyId),
          keyId,
          cliActor(),
          opts.reason,
        );
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
      const grace = opts.grace === '0' ? 0 : seconds(opts.grace, '--grace');
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
