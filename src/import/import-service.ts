import { createImportRun, type ImportDeps, type ImportOptions } from './import-run.ts';
import type { ImportReport } from './import-types.ts';
import { importOptiinfraPostgres } from './optiinfra-postgres.ts';
import { importPermasKeys, type ProviderClients } from './permas-keys.ts';
import { importVigintSqlite } from './vigint-sqlite.ts';

/**
 * Brings another system's clients, keys, usage and credentials into Keyplane without re-keying
 * anyone (issue 20). Every source row goes through the owning module's service; a second run of
 * the same source imports nothing new.
 */
export function createImportService(deps: ImportDeps) {
  return {
    /** Seed 01/02's SQLite database (clients, api_keys, api_usage, payment_details). */
    async vigintSqlite(path: string, opts: ImportOptions): Promise<ImportReport> {
      const run = createImportRun(deps, 'vigint-sqlite', opts);
      await importVigintSqlite(run, path);
      return run.report;
    },
    /**
     * Seed 03's PostgreSQL (customers, pgcrypto-encrypted cloud_credentials, their audit log):
     * `key` is the source's CREDENTIAL_ENCRYPTION_KEY; it is used for decryption only.
     */
    async optiinfraPostgres(url: string, key: string, opts: ImportOptions): Promise<ImportReport> {
      const run = createImportRun(deps, 'optiinfra-postgres', opts);
      await importOptiinfraPostgres(run, url, key);
      return run.report;
    },
    /** Seed 05's key store (api_keys: hashed permas_{env}_… tokens); providers → clients. */
    async permasKeys(
      path: string,
      clients: ProviderClients,
      opts: ImportOptions,
    ): Promise<ImportReport> {
      const run = createImportRun(deps, 'permas-keys', opts);
      await importPermasKeys(run, path, clients);
      return run.report;
    },
  };
}

export type ImportService = ReturnType<typeof createImportService>;
