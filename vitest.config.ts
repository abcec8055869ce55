import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The repository's own code imports @keyplane/sdk from its TypeScript sources (the package's
  // `@keyplane/source` export condition); the published package resolves to its built dist/.
  ssr: { resolve: { conditions: ['@keyplane/source', ...defaultServerConditions] } },
  test: {
    include: [
      'src/**/*.test.ts',
      'test/**/*.test.ts',
      'sdk/**/*.test.ts',
      'examples/**/*.test.ts',
      'dashboard/src/**/*.test.ts',
    ],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // npm run coverage: line and branch coverage of the server and CLI code (the CLI runs
    // in-process in most tests, so it is measured too); coverage/coverage-summary.json per file.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts', 'sdk/src/**/*.ts'],
      exclude: ['**/*.test.ts'],
      reporter: ['text-summary', 'json-summary'],
      // A single failing test still prints the table.
      reportOnFailure: true,
    },
  },
});
