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
    // Each worker process loads the server's modules once, not once per test file (that
    // reload was most of the per-file "import" time: 132 s of a 66-file run's 240 s). Measured on
    // those 66 files, interleaved in one window at load 6-8: 238 / 249 s isolated, 103 / 126 s
    // not. It holds because no module keeps per-test state (caches only: serializers, ids, the
    // ISO clock; metrics use their own registry) and tests restore what they change in the
    // process (vi.unstubAllEnvs, process.env in finally). Each test still builds its own state.
    isolate: false,
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
