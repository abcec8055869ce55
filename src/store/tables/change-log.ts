import type { Generated } from 'kysely';

/**
 * The change-log tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
/**
 * SQLite's cross-process channel for the change feed: one row per published change, read by
 * every other process on the same file past its own cursor, pruned after a few minutes.
 * (The table exists on PostgreSQL too, unused: LISTEN/NOTIFY carries the events there.)
 */
export interface ChangeLogTable {
  /** On SQLite the rowid: max + 1 inside the write lock, so readers never see one appear behind them. */
  seq: Generated<number>;
  origin: string;
  uid: string;
  kind: 'key' | 'client' | 'credential' | 'budget';
  entity_id: string;
  client_id: string;
  created_at: string;
}

export interface ChangeLogTables {
  change_log: ChangeLogTable;
}
