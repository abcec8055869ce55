import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { type Credential, PLATFORM_OWNER } from '../../credentials/index.ts';
import type { Services } from '../../services.ts';
import {
  CliExit,
  cliActor,
  output,
  table,
  withServices,
  setExitCode,
  cliIo,
  usageError,
  countOption,
} from '../context.ts';

/**
 * `keyplane credentials …` on the store directly. Secrets come from stdin or a file, never
 * from an argument (arguments end up in shell history and `ps`).
 */

async function readStdin(): Promise<string> {
  if (cliIo().stdin.isTTY) {
    throw usageError('error: pipe the secret as JSON on stdin, or use --from-file FILE');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of cliIo().stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The secret fields as JSON. A GCP key file may be given as it is: it becomes
 * `{serviceAccountJson: …}`.
 */
async function readSecret(provider: string, fromFile?: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = fromFile ? readFileSync(resolve(cliIo().cwd, fromFile), 'utf8') : await readStdin();
  } catch (err) {
    if (err instanceof CliExit) throw err;
    throw usageError(
      `error: cannot read ${fromFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!text.trim()) throw usageError('error: the secret is empty');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never echo the input: it is a secret.
    throw usageError('error: the secret must be a JSON object, e.g. {"apiKey": "…"}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw usageError('error: the secret must be a JSON object, e.g. {"apiKey": "…"}');
  }
  const obj = parsed as Record<string, unknown>;
  if (provider === 'gcp' && 'private_key' in obj) return { serviceAccountJson: text };
  return obj;
}

function ownerFrom(opts: { client?: string; platform?: boolean }): string {
  if (opts.client && opts.platform) throw usageError('error: use --client or --platform, not both');
  if (opts.platform) return PLATFORM_OWNER;
  if (!opts.client) throw usageError('error: --client ID (or --platform) is required');
  return opts.client;
}

const COLUMNS = [
  'id',
  'provider',
  'name',
  'type',
  'permissions',
  'status',
  'verified',
  'usageCount',
  'lastUsedAt',
];
const row = (c: Credential) => ({
  ...c,
  status: c.deletedAt ? 'deleted' : c.isActive ? 'active' : 'inactive',
  verified: c.isVerified ? `yes (${c.lastVerifiedAt})` : (c.verification?.status ?? 'no'),
});

function describe(c: Credential): string {
  return [
    `${c.id}  ${c.provider}  "${c.name}"  (${c.clientId ?? 'platform'})`,
    `  type ${c.type}, permissions ${c.permissions}, fields ${c.fields.join(', ')}`,
    `  ${row(c).status}, verified: ${row(c).verified}`,
    `  used ${c.usageCount} times, last ${c.lastUsedAt ?? 'never'}`,
  ].join('\n');
}

async function ownerOf(s: Services, id: string, client?: string): Promise<string> {
  return client ?? (await s.credentials.ownerOf(id));
}

export function credentialsCommand(program: Command) {
  const cmd = program
    .command('credentials')
    .description("the credentials vault: clients' and the operator's provider secrets (encrypted)");
  addCommand(cmd);
  readCommands(cmd);
  verifyCommand(cmd);
  changeCommands(cmd);
  rewrapCommand(cmd);
}

/** `credentials add`: a secret from stdin or a file, for a client or the operator. */
function addCommand(cmd: Command) {
  cmd
    .command('add')
    .description('store a credential; the secret is read as JSON from stdin or --from-file')
    .option('--client <id>', 'the client it belongs to')
    .option('--platform', "the operator's own credential (e.g. the server-held AI key)")
    .requiredOption(
      '--provider <provider>',
      'vultr, aws, gcp, azure, gemini, openai, anthropic, exa, copilotkit, generic',
    )
    .requiredOption('--name <name>', 'a name, unique per provider')
    .option('--type <type>', 'api_key, access_key, service_account, oauth_client')
    .option('--permissions <p>', 'read_only (default), read_write, admin')
    .option('--from-file <file>', 'read the secret JSON (or a GCP key file) from this file')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `\nExamples:\n  echo '{"apiKey":"…"}' | keyplane credentials add --client client_… --provider vultr --name "Production Vultr"\n  keyplane credentials add --client client_… --provider gcp --name prod --from-file key.json\n  keyplane credentials add --platform --provider gemini --name "server key" --from-file gemini.json`,
    )
    .action(
      async (opts: {
        client?: string;
        platform?: boolean;
        provider: string;
        name: string;
        type?: string;
        permissions?: string;
        fromFile?: string;
        json?: boolean;
      }) => {
        const owner = ownerFrom(opts);
        const secret = await readSecret(opts.provider, opts.fromFile);
        await withServices(async (s) => {
          const c = await s.credentials.create(
            owner,
            {
              provider: opts.provider,
              credentialName: opts.name,
              credentials: secret,
              credentialType: opts.type,
              permissions: opts.permissions,
            },
            cliActor(),
          );
          output(opts, c, () => `stored ${c.id} (${c.provider}, "${c.name}")`);
        });
      },
    );
}

/** `credentials list`, `show`, `summary`: metadata only. */
function readCommands(cmd: Command) {
  cmd
    .command('list')
    .description('list credentials (metadata only)')
    .option('--client <id>', "a client's credentials")
    .option('--platform', "the operator's credentials")
    .option('--provider <provider>', 'only this provider')
    .option('--all', 'include deleted ones')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        client?: string;
        platform?: boolean;
        provider?: string;
        all?: boolean;
        json?: boolean;
      }) => {
        const owner = ownerFrom(opts);
        await withServices(async (s) => {
          if (owner !== PLATFORM_OWNER) await s.clients.get(owner);
          const page = await s.credentials.list(owner, {
            provider: opts.provider,
            includeDeleted: opts.all,
            limit: 1000,
          });
          output(opts, page, () => table(page.data.map(row), COLUMNS));
        });
      },
    );
  cmd
    .command('show <id>')
    .description('one credential (metadata only)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const c = await s.credentials.get(await ownerOf(s, id), id);
        output(opts, c, () => describe(c));
      });
    });
  cmd
    .command('summary')
    .description("a client's credentials counted per provider")
    .requiredOption('--client <id>', 'the client')
    .option('--json', 'machine-readable output')
    .action(async (opts: { client: string; json?: boolean }) => {
      await withServices(async (s) => {
        await s.clients.get(opts.client);
        const sum = await s.credentials.summary(opts.client);
        output(opts, sum, () =>
          table(
            Object.entries(sum.providers).map(([provider, n]) => ({ provider, ...n })),
            ['provider', 'total', 'active', 'verified'],
          ),
        );
      });
    });
}

/** `credentials verify`: exit 1 when the provider refused it or could not be reached. */
function verifyCommand(cmd: Command) {
  cmd
    .command('verify <id>')
    .description("check a credential against the provider's API")
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const r = await s.credentials.verify(await ownerOf(s, id), id, cliActor());
        output(
          opts,
          { ...r.credential, verification: r.verification },
          () =>
            `${r.verification.status}: ${r.verification.message} (${r.verification.attempts} attempt(s))`,
        );
        if (r.verification.status === 'rejected' || r.verification.status === 'unreachable') {
          setExitCode(1);
        }
      });
    });
}

/** `credentials rotate` and `delete`. */
function changeCommands(cmd: Command) {
  cmd
    .command('rotate <id>')
    .description('replace the secret (JSON on stdin or --from-file); verification starts over')
    .option('--from-file <file>', 'read the new secret JSON from this file')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { fromFile?: string; json?: boolean }) => {
      await withServices(async (s) => {
        const owner = await ownerOf(s, id);
        const current = await s.credentials.get(owner, id);
        const secret = await readSecret(current.provider, opts.fromFile);
        const c = await s.credentials.update(owner, id, { credentials: secret }, cliActor());
        output(
          opts,
          c,
          () => `replaced the secret of ${c.id} (new data key); run verify to check it`,
        );
      });
    });
  cmd
    .command('delete <id>')
    .description('soft-delete: inactive, data key shredded, metadata and audit trail kept')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (s) => {
        const c = await s.credentials.remove(await ownerOf(s, id), id, cliActor());
        output(opts, c, () => `deleted ${c.id}; its data key is shredded`);
      });
    });
}

/** `credentials rewrap`: a progress bar on a terminal, plain lines otherwise. */
function rewrapCommand(cmd: Command) {
  cmd
    .command('rewrap')
    .description(
      'move every data key to the active master key (KEYPLANE_MASTER_KEYS=old:…,*new:…); secrets stay sealed',
    )
    .option('--batch <n>', 'data keys per page', '200')
    .option('--json', 'machine-readable output')
    .action(async (opts: { batch: string; json?: boolean }) => {
      const batchSize = countOption(opts.batch, '--batch', 10_000);
      await withServices(async (s) => {
        const tty = cliIo().stderr.isTTY === true && !opts.json;
        const bar = tty
          ? new cliProgress.SingleBar(
              { format: 'rewrap |{bar}| {value}/{total} data keys', stream: cliIo().stderr },
              cliProgress.Presets.shades_classic,
            )
          : null;
        let lastLine = 0;
        const report = await s.credentials.rewrap({
          batchSize,
          actor: cliActor(),
          onProgress: (done, total) => {
            if (bar) {
              if (done === 0) bar.start(total, 0);
              else bar.update(done, { total });
              bar.setTotal(total);
            } else if (!opts.json && (done === total || done - lastLine >= batchSize)) {
              lastLine = done;
              cliIo().stderr.write(`rewrapped ${done}/${total}\n`);
            }
          },
        });
        bar?.stop();
        output(opts, report, () =>
          [
            `${report.rewrapped} of ${report.total} data key(s) now wrapped with master key "${report.activeKeyId}"`,
            ...report.failed.map((f) => `  failed ${f.id}: ${f.reason}`),
          ].join('\n'),
        );
        if (report.failed.length) setExitCode(1);
      });
    });
}
