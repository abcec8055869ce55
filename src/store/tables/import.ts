/**
 * The import tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
/** Bookkeeping of imports: one row per imported source row, so a second run imports nothing new. */
export interface ImportRecordsTable {
  /** The source's label, e.g. `vigint-sqlite` (one per source system). */
  source: string;
  /** What the row was: client, payment, key, usage, credential, audit. */
  entity: string;
  /** The row's id in the source. */
  source_id: string;
  /** What it became in Keyplane (a client, key or credential id; the usage request id). */
  target_id: string;
  created_at: string;
}

export interface ImportTables {
  import_records: ImportRecordsTable;
}
