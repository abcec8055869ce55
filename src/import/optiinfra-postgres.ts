import pg from 'pg';
import { importClientInput } from '../clients/index.ts';
import { AppError } from '../lib/errors.ts';
import { parseInput } from '../lib/parse-input.ts';
import { redactUrl } from '../store/create-db.ts';
import { checkColumns, RowError } from './import-fns.ts';
import type { ImportRun } from './import-run.ts';
import {
  mapAuditEntry,
  mapCredential,
  mapCustomer,
  OPTIINFRA_TABLES,
  parseSecret,
  UNDECRYPTABLE,
  type OptiinfraTable,
} from './optiinfra-postgres-fns.ts';
import { candidates, parent, rowId, type Row, type Table } from './source-rows.ts';

const TIMESTAMP = 1114; // without time zone: kept as text, read as UTC (like the seed writes it)
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMP) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

async function readTable(c: pg.Client, name: OptiinfraTable): Promise<Table> {
  const cols = await c.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [name],
  );
  const columns = cols.rows.map((r) => r.column_name);
  if (!columns.length) return { rows: [], problem: null };
  const spec = OPTIINFRA_TABLES[name];
  const order = columns.includes('created_at') ? 'created_at NULLS FIRST, ctid' : 'ctid';
  // The ciphertext stays in the source: each row is decrypted there, by its ctid.
  const res = await c.query<Row>(
    `SELECT ctid::text AS "_rowid", * FROM "${name}" ORDER BY ${order}`,
  );
  for (const r of res.rows) delete r.encrypted_credentials;
  return { rows: res.rows, problem: checkColumns(name, columns, spec.known, spec.required) };
}

/** The row's secret, decrypted by pgcrypto in the source database. */
async function decrypt(c: pg.Client, rowid: unknown, key: string): Promise<string> {
  try {
    const res = await c.query<{ plain: string }>(
      'SELECT pgp_sym_decrypt(encrypted_credentials, $1) AS plain FROM cloud_credentials WHERE ctid = $2::tid',
      [key, String(rowid)],
    );
    if (res.rows.length !== 1) throw new Error('row is gone');
    return res.rows[0]!.plain;
  } catch {
    throw new RowError(UNDECRYPTABLE);
  }
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, types });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch {
    throw new AppError(
      'validation_failed',
      `cannot connect to the source database ${redactUrl(url)}`,
    );
  }
  const ext = await c.query("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'");
  if (!ext.rowCount) {
    await c.end();
    throw new AppError('validation_failed', 'the source database has no pgcrypto extension');
  }
  return c;
}

type Tables = Record<'customers' | 'credentials' | 'audit', Table>;
const idOf = rowId();

/**
 * Imports seed 03's PostgreSQL: customers as clients, each cloud credential decrypted with the
 * operator's key (by pgcrypto, in the source) and sealed in Keyplane's vault, and the old audit
 * log as imported history on the credentials' audit trails. When the key opens none of the
 * credentials it is the wrong key: every row is refused and nothing is written.
 */
export async function importOptiinfraPostgres(run: ImportRun, url: string, key: string) {
  if (!key) throw new AppError('validation_failed', 'the decryption key is empty');
  const c = await connect(url);
  try {
    const t: Tables = {
      customers: await readTable(c, 'customers'),
      credentials: await readTable(c, 'cloud_credentials'),
      audit: await readTable(c, 'credential_audit_log'),
    };
    if (!t.customers.rows.length && t.customers.problem === null && !t.credentials.rows.length)
      throw new AppError('validation_failed', 'not an OptiInfra database: no customers');
    run.addTotal(Object.values(t).reduce((n, x) => n + x.rows.length, 0));
    if (!(await keyOpensAny(c, t.credentials, key))) return refuseAll(run, t);
    const clientIds = await importCustomers(run, t.customers);
    const creds = await importCredentials(run, c, key, t.credentials, clientIds);
    await importAudit(run, t.audit, creds);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Does the key open at least one credential (or are there none to open)? */
async function keyOpensAny(c: pg.Client, table: Table, key: string): Promise<boolean> {
  if (table.problem || !table.rows.length) return true;
  for (const r of table.rows) {
    try {
      await decrypt(c, r._rowid, key);
      return true;
    } catch {
      /* the next one */
    }
  }
  return false;
}

function refuseAll(run: ImportRun, t: Tables): void {
  const because = 'not imported: the decryption key opens none of the credentials';
  for (const r of t.customers.rows) run.fail('client', idOf(r), because);
  for (const r of t.credentials.rows) run.fail('credential', idOf(r), UNDECRYPTABLE);
  for (const r of t.audit.rows) run.fail('audit', idOf(r), because);
}

async function importCustomers(run: ImportRun, table: Table) {
  const ids = new Map<string, string | null>();
  for (const r of candidates(run, 'client', table, idOf)) {
    const id = await run.row(
      'client',
      idOf(r),
      () => {
        const m = mapCustomer(r);
        const { name, email, tier, createdAt } = m;
        const metadata = { importedFrom: 'optiinfra', sourceId: idOf(r) };
        const input = { name, email, tier, createdAt, metadata };
        return { ...m, input: parseInput(importClientInput, input) };
      },
      async (m) => {
        const client = await run.deps.clients.importClient(m.input, run.actor);
        if (m.suspended) await run.deps.clients.suspend(client.id, run.actor, m.suspended);
        return client.id;
      },
    );
    ids.set(idOf(r), id);
  }
  return ids;
}

interface ImportedCredential {
  credentialId: string;
  clientId: string;
  customerId: string;
}

async function importCredentials(
  run: ImportRun,
  c: pg.Client,
  key: string,
  table: Table,
  clientIds: Map<string, string | null>,
) {
  const out = new Map<string, ImportedCredential | null>();
  for (const r of candidates(run, 'credential', table, idOf)) {
    if (run.dryRun && !(await run.importedBefore('credential', idOf(r)))) {
      // A dry run opens each secret too (and forgets it), so it reports what would be refused.
      let problem: string | null = null;
      try {
        parseSecret(await decrypt(c, r._rowid, key));
      } catch (err) {
        problem = (err as Error).message;
      }
      if (problem) {
        run.fail('credential', idOf(r), problem);
        out.set(idOf(r), null);
        continue;
      }
    }
    const clientId = await run.row(
      'credential',
      idOf(r),
      () => ({ clientId: parent(clientIds, 'customer', r.customer_id), meta: mapCredential(r) }),
      async (m) => {
        const credentials = parseSecret(await decrypt(c, r._rowid, key));
        const origin = { importedFrom: 'optiinfra', sourceId: idOf(r) };
        const cred = await run.deps.credentials.importCredential(
          m.clientId,
          { ...m.meta, credentials, origin },
          run.actor,
        );
        return cred.id;
      },
    );
    out.set(
      idOf(r),
      clientId
        ? {
            credentialId: clientId,
            clientId: clientIds.get(String(r.customer_id))!,
            customerId: String(r.customer_id),
          }
        : null,
    );
  }
  return out;
}

async function importAudit(
  run: ImportRun,
  table: Table,
  creds: Map<string, ImportedCredential | null>,
) {
  for (const r of candidates(run, 'audit', table, idOf)) {
    await run.row(
      'audit',
      idOf(r),
      () => {
        const cred = creds.get(String(r.credential_id));
        if (r.credential_id === null || r.credential_id === undefined)
          throw new RowError('credential_id is missing');
        if (cred === undefined)
          throw new RowError(`credential ${String(r.credential_id)} does not exist in the source`);
        if (cred === null)
          throw new RowError(`credential ${String(r.credential_id)} was not imported`);
        if (r.customer_id != null && String(r.customer_id) !== cred.customerId)
          throw new RowError("customer_id is not the credential's customer");
        return { cred, entry: mapAuditEntry(r) };
      },
      async ({ cred, entry }) => {
        const recorded = await run.deps.audit.record({
          actor: run.actor,
          action: entry.action,
          targetType: 'credential',
          targetId: cred.credentialId,
          clientId: cred.clientId,
          data: {
            imported: true,
            importedFrom: 'optiinfra',
            sourceId: idOf(r),
            occurredAt: entry.occurredAt,
            details: entry.details,
            ip: entry.ip,
          },
        });
        return recorded.id;
      },
    );
  }
}
