import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { ImportReport } from '../../import/import-types.ts';
import type { Services } from '../../services.ts';
import { CliExit, cliActor, output, withServices } from '../context.ts';

/** A bar on a terminal (stderr), plain lines at every tenth otherwise. */
function importProgress(stream: NodeJS.WriteStream = process.stderr) {
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
}
