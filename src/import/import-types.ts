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

export type ImportEntity = 'client' | 'payment' | 'key' | 'usage' | 'credential' | 'audit';

/** One source row the import refused, and why (never a key or a secret). */
export interface RowProblem {
  entity: ImportEntity;
  /** The row's id in the source (or its position when it has none). */
  sourceId: string;
  message: string;
}

/** What an import did (or, with dryRun, would do), per entity. */
export interface ImportReport {
  source: string;
  kind: ImportKind;
  dryRun: boolean;
  imported: Partial<Record<ImportEntity, number>>;
  /** Already imported by an earlier run: left alone. */
  skipped: Partial<Record<ImportEntity, number>>;
  failed: RowProblem[];
}

export type ImportKind = 'vigint-sqlite' | 'optiinfra-postgres' | 'permas-keys';

/** Progress for the CLI's bar: `done` of `total` rows. */
export type ImportProgress = (done: number, total: number) => void;
