import Sqlite from 'better-sqlite3';
import { paymentDetailsInput } from '../billing/index.ts';
import { importClientInput } from '../clients/index.ts';
import { AppError } from '../lib/errors.ts';
import { parseInput } from '../lib/parse-input.ts';
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

type Tables = Record<'clients' | 'payments' | 'keys' | 'usage', Table>;
/** Source id → Keyplane id (null: that row failed, so its children fail too). */
type IdMap = Map<string, string | null>;

async function importRows(run: ImportRun, t: Tables) {
  const clientIds = await importClients(run, t.clients);
  await importPayments(run, t.payments, clientIds);
  const { keyIds, keyOwners } = await importKeys(run, t.keys, clientIds);
  await importUsage(run, t.usage, keyIds, keyOwners);
  await run.commitDeferred();
}

async function importClients(run: ImportRun, table: Table): Promise<IdMap> {
  const { clients } = run.deps;
  const actor = run.actor;
  const clientIds: IdMap = new Map();
  for (const r of candidates(run, 'client', table)) {
    clientIds.set(
      idOf(r),
      await run.row(
        'client',
        idOf(r),
        () => {
          const c = mapClient(r);
          const metadata = { importedFrom: 'vigint', sourceId: idOf(r) };
          const input = { name: c.name, email: c.email, createdAt: c.createdAt, metadata };
          return { ...c, input: parseInput(importClientInput, input) };
        },
        async (c) => {
          const client = await clients.importClient(c.input, actor);
          if (!c.active) await clients.suspend(client.id, actor, 'inactive in Vigint');
          return client.id;
        },
      ),
    );
  }
  return clientIds;
}

async function importPayments(run: ImportRun, table: Table, clientIds: IdMap): Promise<void> {
  for (const r of candidates(run, 'payment', table, (p) => String(p.client_id))) {
    await run.row(
      'payment',
      String(r.client_id),
      () => ({
        clientId: parent(clientIds, 'client', r.client_id),
        input: parseInput(paymentDetailsInput, mapPayment(r)),
      }),
      async (p) => {
        await run.deps.billing.setPaymentDetails(p.clientId, p.input, run.actor);
        return p.clientId;
      },
    );
  }
}

async function importKeys(
  run: ImportRun,
  table: Table,
  clientIds: IdMap,
): Promise<{ keyIds: IdMap; keyOwners: IdMap }> {
  const keyOwners: IdMap = new Map();
  const keyIds: IdMap = new Map();
  const seenHashes = new Set<string>();
  for (const r of candidates(run, 'key', table)) {
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
      async (k) => (await run.deps.keys.importLegacy(k.clientId, k.input, run.actor)).id,
    );
    keyIds.set(idOf(r), id);
    keyOwners.set(idOf(r), id ? (clientIds.get(String(r.client_id)) ?? null) : null);
  }
  return { keyIds, keyOwners };
}

async function importUsage(run: ImportRun, table: Table, keyIds: IdMap, keyOwners: IdMap) {
  for (const r of candidates(run, 'usage', table)) {
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
        run.deps.usage.record({
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
}
