import Sqlite from 'better-sqlite3';
import { AppError } from '../lib/errors.ts';
import type { ImportRun } from './import-run.ts';
import type { ImportEntity } from './import-types.ts';
import {
  candidates as candidateRows,
  parent,
  readSqliteTable,
  rowId,
  type Row,
  type Table,
} from './source-rows.ts';
import {
  mapClient,
  mapKey,
  mapPayment,
  mapUsage,
  VIGINT_TABLES,
  type VigintTable,
} from './vigint-sqlite-fns.ts';

const readTable = (db: Sqlite.Database, name: VigintTable): Table =>
  readSqliteTable(db, name, VIGINT_TABLES[name]);

const idOf = rowId();

const candidates = (run: ImportRun, entity: ImportEntity, table: Table, key = idOf): Row[] =>
  candidateRows(run, entity, table, key, idOf);

/** Imports seed 01/02's SQLite database (see vigint-sqlite-fns.ts for what each row becomes). */
export async function importVigintSqlite(run: ImportRun, path: string): Promise<void> {
  let db: Sqlite.Database;
  try {
    db = new Sqlite(path, { readonly: true, fileMustExist: true });
  } catch {
    throw new AppError('validation_failed', `cannot open the SQLite database ${path}`);
  }
  try {
    const t = {
      clients: readTable(db, 'clients'),
      payments: readTable(db, 'payment_details'),
      keys: readTable(db, 'api_keys'),
      usage: readTable(db, 'api_usage'),
    };
    if (!t.clients.rows.length && !t.keys.rows.length && t.clients.problem === null) {
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'clients'").get();
      if (!has)
        throw new AppError('validation_failed', 'not a Vigint database: it has no clients table');
    }
    run.addTotal(Object.values(t).reduce((n, x) => n + x.rows.length, 0));
    await importRows(run, t);
  } finally {
    db.close();
  }
}

async function importRows(
  run: ImportRun,
  t: Record<'clients' | 'payments' | 'keys' | 'usage', Table>,
) {
  const { clients, keys, billing, usage } = run.deps;
  const actor = run.actor;
  const clientIds = new Map<string, string | null>();
  for (const r of candidates(run, 'client', t.clients)) {
    clientIds.set(
      idOf(r),
      await run.row(
        'client',
        idOf(r),
        () => mapClient(r),
        async (c) => {
          const client = await clients.importClient(
            {
              name: c.name,
              email: c.email,
              createdAt: c.createdAt,
              metadata: { importedFrom: 'vigint', sourceId: idOf(r) },
            },
            actor,
          );
          if (!c.active) await clients.suspend(client.id, actor, 'inactive in Vigint');
          return client.id;
        },
      ),
    );
  }

  for (const r of candidates(run, 'payment', t.payments, (p) => String(p.client_id))) {
    await run.row(
      'payment',
      String(r.client_id),
      () => ({ clientId: parent(clientIds, 'client', r.client_id), input: mapPayment(r) }),
      async (p) => {
        await billing.setPaymentDetails(p.clientId, p.input, actor);
        return p.clientId;
      },
    );
  }

  const keyOwners = new Map<string, string | null>();
  const keyIds = new Map<string, string | null>();
  const seenHashes = new Set<string>();
  for (const r of candidates(run, 'key', t.keys)) {
    const hash = String(r.key_hash ?? '').toLowerCase();
    const repeat = seenHashes.has(hash);
    seenHashes.add(hash);
    const id = await run.row(
      'key',
      idOf(r),
      () => {
        if (repeat)
          throw new AppError(
            'validation_failed',
            'duplicate key: the same key_hash as an earlier row',
          );
        return { clientId: parent(clientIds, 'client', r.client_id), input: mapKey(r) };
      },
      async (k) => (await keys.importLegacy(k.clientId, k.input, actor)).id,
    );
    keyIds.set(idOf(r), id);
    keyOwners.set(idOf(r), id ? (clientIds.get(String(r.client_id)) ?? null) : null);
  }

  for (const r of candidates(run, 'usage', t.usage)) {
    await run.row(
      'usage',
      idOf(r),
      () => ({
        keyId: parent(keyIds, 'api key', r.api_key_id),
        clientId: keyOwners.get(String(r.api_key_id))!,
        call: mapUsage(r),
      }),
      async (u) => {
        const requestId = run.usageRequestId(idOf(r));
        usage.record({
          requestId,
          clientId: u.clientId,
          keyId: u.keyId,
          endpoint: u.call.endpoint,
          method: 'UNKNOWN',
          status: 200,
          environment: 'live',
          durationMs: 0,
          at: new Date(u.call.at),
          external: true,
          priceMicros: u.call.priceMicros,
        });
        return requestId;
      },
      { defer: true },
    );
  }
  await run.commitDeferred();
}
