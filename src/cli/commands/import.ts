import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { ImportReport } from '../../import/index.ts';
import type { Services } from '../../services.ts';
import {
  CliExit,
  cliActor,
  cliIo,
  output,
  usageError,
  withServices,
  type CliWritable,
} from '../context.ts';

/** A bar on a terminal (stderr), plain lines at every tenth otherwise. */
function importProgress(stream: CliWritable = cliIo().stderr) {
  let bar: cliProgress.SingleBar | null = null;
  let lastDecile = -1;
  return {
    update(done: number, total: number) {
      if (stream.isTTY && total > 1) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: 'importing [{bar}] {percentage}% {value}/{total} rows',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, done);
        }
        bar.setTotal(total);
        bar.update(done);
        return;
      }
      const decile = total ? Math.floor((done / total) * 10) : 10;
      if (decile === lastDecile || !total) return;
      lastDecile = decile;
      stream.write(`importing: ${done}/${total} rows\n`);
    },
    stop() {
      bar?.stop();
    },
  };
}

function counts(m: ImportReport['imported']): string {
  const parts = Object.entries(m).map(([k, n]) => `${n} ${k}`);
  return parts.length ? parts.join(', ') : 'nothing';
}

function human(r: ImportReport): string {
  const lines = [
    `${r.dryRun ? 'would import' : 'imported'}: ${counts(r.imported)}`,
    `already imported: ${counts(r.skipped)}`,
    `refused: ${r.failed.length} row(s)`,
    ...r.failed.map((f) => `  ${f.entity} ${f.sourceId}: ${f.message}`),
  ];
  return lines.join('\n');
}

interface ImportFlags {
  source?: string;
  from?: string;
  client?: string[];
  dryRun?: boolean;
  json?: boolean;
}

/** Runs one import with progress; exit code 1 when a row was refused (the report says which). */
async function run(
  flags: ImportFlags,
  fn: (s: Services, o: Parameters<Services['imports']['vigintSqlite']>[1]) => Promise<ImportReport>,
) {
  const progress = importProgress();
  const report = await withServices(async (s) => {
    try {
      return await fn(s, {
        source: flags.source,
        dryRun: flags.dryRun,
        actor: cliActor(),
        onProgress: (done, total) => progress.update(done, total),
      });
    } finally {
      progress.stop();
    }
  });
  output(flags, report, () => human(report));
  if (report.failed.length)
    throw new CliExit(1, `error: ${report.failed.length} row(s) were not imported`);
}

export function importCommand(program: Command) {
  const cmd = program
    .command('import')
    .description(
      "bring another system's clients, keys, usage and credentials into Keyplane (keys keep working)",
    );

  cmd
    .command('vigint-sqlite <database>')
    .description('seed 01/02: clients, api_keys (sha256 hashes), api_usage, payment_details')
    .option(
      '--source <name>',
      'names this source system in the bookkeeping (default vigint-sqlite)',
    )
    .option('--dry-run', 'report what would be imported, write nothing')
    .option('--json', 'machine-readable summary')
    .action(async (database: string, flags: ImportFlags) =>
      run(flags, (s, o) => s.imports.vigintSqlite(database, o)),
    );

  cmd
    .command('optiinfra-postgres')
    .description(
      'seed 03: customers, cloud_credentials (pgcrypto; the key is read from stdin), credential_audit_log',
    )
    .requiredOption('--from <postgres-url>', 'the OptiInfra PostgreSQL database')
    .option(
      '--source <name>',
      'names this source system in the bookkeeping (default optiinfra-postgres)',
    )
    .option('--dry-run', 'report what would be imported, write nothing')
    .option('--json', 'machine-readable summary')
    .action(async (flags: ImportFlags) => {
      const key = await keyFromStdin();
      await run(flags, (s, o) => s.imports.optiinfraPostgres(flags.from!, key, o));
    });

  cmd
    .command('permas-keys <database>')
    .description("seed 05: the key service's SQLite store (hashed permas_{env}_… tokens)")
    .option(
      '--client <provider=clientId>',
      'whose keys: a provider_id and the Keyplane client its keys join (repeat per provider)',
      (value: string, all: string[] = []) => [...all, value],
    )
    .option('--source <name>', 'names this source system in the bookkeeping (default permas-keys)')
    .option('--dry-run', 'report what would be imported, write nothing')
    .option('--json', 'machine-readable summary')
    .action(async (database: string, flags: ImportFlags) => {
      const clients = providerClients(flags.client ?? []);
      await run(flags, (s, o) => s.imports.permasKeys(database, clients, o));
    });
}

/** The decryption key, piped on stdin (one line; never an argument or a variable). */
async function keyFromStdin(): Promise<string> {
  const stdin = cliIo().stdin;
  if (stdin.isTTY)
    throw usageError(
      'pipe the source CREDENTIAL_ENCRYPTION_KEY on stdin (it is never an argument)',
    );
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  const key = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!key) throw usageError('no decryption key on stdin');
  return key;
}

/** `provider=client_…` pairs as a map; a malformed pair is a usage error. */
function providerClients(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0 || at === pair.length - 1)
      throw usageError(`--client wants PROVIDER=CLIENT_ID (got "${pair}")`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}
