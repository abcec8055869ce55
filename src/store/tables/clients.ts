/**
 * The clients tables' rows, as the store's `Database` assembles them (and the column
 * value types they need). The module's own types file re-exports them: the store imports no
 * module, so no module depends on the store through its own tables.
 */
export type ClientStatus = 'active' | 'suspended' | 'deleted';

export interface ClientsTable {
  id: string;
  name: string;
  /** null once the client is deleted (PII scrubbed). */
  email: string | null;
  tier: string;
  status: ClientStatus;
  /** JSON object. */
  metadata: string;
  /** JSON {limit, windowSeconds} or null: the default for this client's keys. */
  default_rate_limit: string | null;
  created_at: string;
  updated_at: string;
  suspended_at: string | null;
  deleted_at: string | null;
}

export interface ClientsTables {
  clients: ClientsTable;
}
