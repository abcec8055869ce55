export type { ImportRecordsTable, ImportTables } from '../store/tables/import.ts';

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
