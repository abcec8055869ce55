import Sqlite from 'better-sqlite3';
import { AppError } from '../lib/errors.ts';
import type { ImportRun } from './import-run.ts';
import { mapPermasKey, PERMAS_TABLES } from './permas-keys-fns.ts';
import { candidates, readSqliteTable, rowId } from './source-rows.ts';

/** Which Keyplane client each seed 05 provider's keys belong to. */
export type ProviderClients = Record<string, string>;

/** The mapped clients that exist: provider → client id, or the reason its keys are refused. */
async function resolveClients(
  run: ImportRun,
  mapping: ProviderClients,
): Promise<Map<string, { clientId: string } | { problem: string }>> {
  const out = new Map<string, { clientId: string } | { problem: string }>();
  for (const [provider, clientId] of Object.entries(mapping)) {
    try {
      const client = await run.deps.clients.get(clientId);
      out.set(
        provider,
        client.status === 'deleted'
          ? { problem: `provider ${provider} maps to client ${clientId}, which is deleted` }
          : { clientId },
      );
    } catch {
      out.set(provider, {
        problem: `provider ${provider} maps to client ${clientId}, which does not exist`,
      });
    }
  }
  return out;
}

/**
 * Imports seed 05's key store (its SQLite fallback database, table `api_keys`): every token as
 * a legacy key of the Keyplane client its provider is mapped to, keeping scopes, IP
 * restrictions, expiry and revocation with its reason. The original tokens keep working.
 */
export async function importPermasKeys(
  run: ImportRun,
  path: string,
  mapping: ProviderClients,
): Promise<void> {
  let db: Sqlite.Database;
  try {
    db = new Sqlite(path, { readonly: true, fileMustExist: true });
  } catch {
    throw new AppError('validation_failed', `cannot open the SQLite database ${path}`);
  }
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'api_keys'").get();
    if (!has)
      throw new AppError('validation_failed', 'not a seed 05 key store: it has no api_keys table');
    const table = readSqliteTable(db, 'api_keys', PERMAS_TABLES.api_keys, 'token_id');
    run.addTotal(table.rows.length);
    const clients = await resolveClients(run, mapping);
    const idOf = rowId('token_id');
    const seenHashes = new Set<string>();
    for (const r of candidates(run, 'key', table, idOf)) {
      const hash = String(r.token_hash ?? '').toLowerCase();
      const repeat = seenHashes.has(hash);
      seenHashes.add(hash);
      await run.row(
        'key',
        idOf(r),
        () => {
          if (repeat)
            throw new AppError(
              'validation_failed',
              'duplicate key: the same token_hash as an earlier row',
            );
          const provider = String(r.provider_id ?? '');
          const target = clients.get(provider);
          if (!target)
            throw new AppError(
              'validation_failed',
              `provider ${provider.slice(0, 60)} is not mapped to a Keyplane client (--client ${provider.slice(0, 60)}=CLIENT_ID)`,
            );
          if ('problem' in target) throw new AppError('validation_failed', target.problem);
          return { clientId: target.clientId, input: mapPermasKey(r) };
        },
        async (k) => (await run.deps.keys.importLegacy(k.clientId, k.input, run.actor)).id,
      );
    }
  } finally {
    db.close();
  }
}
