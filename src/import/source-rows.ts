import type Sqlite from 'better-sqlite3';
import { AppError } from '../lib/errors.ts';
import { checkColumns, firstById } from './import-fns.ts';
import type { ImportRun } from './import-run.ts';
import type { ImportEntity } from './import-types.ts';

/** What every source reader shares: one table's rows, refusals, parents. */
export type Row = Record<string, unknown>;

export interface TableSpec {
  readonly known: readonly string[];
  readonly required: readonly string[];
}

export interface Table {
  rows: Row[];
  /** Unknown or missing columns: every row of the table is refused with this. */
  problem: string | null;
}

/** The rows of a SQLite source table (none when it does not exist), its columns checked. */
export function readSqliteTable(
  db: Sqlite.Database,
  name: string,
  spec: TableSpec,
  idColumn = 'id',
): Table {
  const columns = (db.prepare(`PRAGMA table_info("${name}")`).all() as Array<{ name: string }>).map(
    (c) => c.name,
  );
  if (!columns.length) return { rows: [], problem: null };
  const order = columns.includes(idColumn) ? `"${idColumn}"` : 'rowid';
  const rows = db
    .prepare(`SELECT rowid AS "_rowid", * FROM "${name}" ORDER BY ${order}`)
    .all() as Row[];
  return { rows, problem: checkColumns(name, columns, spec.known, spec.required) };
}

/** A row's id in its source, or its position when it has none. */
export const rowId =
  (column = 'id') =>
  (r: Row): string => {
    const v = r[column];
    if (v === null || v === undefined || v === '') return `row ${String(r._rowid ?? '?')}`;
    return String(v instanceof Buffer ? v.toString('hex') : v);
  };

/** Rows of a table that may be imported: the refused ones (bad columns, repeats) reported. */
export function candidates(
  run: ImportRun,
  entity: ImportEntity,
  table: Table,
  key: (r: Row) => string,
  label: (r: Row) => string = key,
): Row[] {
  if (table.problem) {
    for (const r of table.rows) run.fail(entity, label(r), table.problem);
    return [];
  }
  const { unique, duplicates } = firstById(table.rows, key);
  for (const r of duplicates)
    run.fail(entity, label(r), `duplicate ${entity} row (same id as an earlier row)`);
  return unique;
}

/** A parent's Keyplane id, or the reason the row cannot be imported. */
export function parent(ids: Map<string, string | null>, what: string, id: unknown): string {
  const target = ids.get(String(id));
  if (target === undefined)
    throw new AppError('validation_failed', `${what} ${String(id)} does not exist in the source`);
  if (target === null)
    throw new AppError('validation_failed', `${what} ${String(id)} was not imported`);
  return target;
}
