import type { Command } from 'commander';
import { loadConfigOrExit, output } from '../context.ts';

export function migrateCommand(program: Command) {
  program
    .command('migrate')
    .description('apply pending database migrations (idempotent; serve also does this)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfigOrExit();
      // Loaded on use, like the runtime (see withServices).
      const [{ createStore }, { migrateToLatest }] = await Promise.all([
        import('../../store/create-db.ts'),
        import('../../store/migrate.ts'),
      ]);
      const store = createStore(config.databaseUrl);
      try {
        const applied = await migrateToLatest(store.db);
        output(opts, { store: store.describe, applied }, () =>
          applied.length
            ? `applied ${applied.length} migration(s) to ${store.describe}:\n${applied.map((a) => `  ${a}`).join('\n')}`
            : `${store.describe} is up to date`,
        );
      } finally {
        await store.close();
      }
    });
}
