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

export type ActorType = 'admin' | 'client' | 'system' | 'cli' | 'anonymous';

export interface Actor {
  type: ActorType;
  id: string;
  ip?: string | null;
}

export interface AuditEventInput {
  actor: Actor;
  action: string;
  targetType: string;
  targetId?: string | null;
  clientId?: string | null;
  data?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  id: string;
  createdAt: string;
  actorType: string;
  actorId: string;
  action: string;
  targetType: string;
  targetId: string | null;
  clientId: string | null;
  ip: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditFilter {
  clientId?: string;
  action?: string;
  targetId?: string;
  targetType?: string;
  limit?: number;
  /** seq to continue before (newest first). */
  cursor?: number;
}

export type ChainVerdict =
  | { ok: true; entries: number; headSeq: number }
  | { ok: false; entries: number; firstBadSeq: number; reason: string };
