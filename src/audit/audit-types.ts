export type { AuditLogTable, AuditHeadTable, AuditTables } from '../store/tables/audit.ts';

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
