/**
 * The audit tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
export interface AuditLogTable {
  seq: number;
  id: string;
  created_at: string;
  actor_type: string;
  actor_id: string;
  action: string;
  target_type: string;
  target_id: string | null;
  client_id: string | null;
  ip: string | null;
  /** JSON object; never a secret. */
  data: string;
  prev_hash: string;
  hash: string;
}

/** One row (id 1): the head of the chain, the lock every append takes first. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  last_hash: string;
}

export interface AuditTables {
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
}
