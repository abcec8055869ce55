import { newId } from '../lib/ids.ts';
import type { Clock } from '../lib/clock.ts';
import { checkLink, GENESIS_HASH } from './audit-fns.ts';
import type { AuditStore } from './audit-store.ts';
import type {
  AuditEntry,
  AuditEventInput,
  AuditFilter,
  AuditLogTable,
  ChainVerdict,
} from './audit-types.ts';
import { readPage } from '../lib/page.ts';

export interface AuditServiceDeps {
  auditStore: AuditStore;
  clock: Clock;
}

function toEntry(r: AuditLogTable): AuditEntry {
  return {
    seq: Number(r.seq),
    id: r.id,
    createdAt: r.created_at,
    actorType: r.actor_type,
    actorId: r.actor_id,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    clientId: r.client_id,
    ip: r.ip,
    data: JSON.parse(r.data) as Record<string, unknown>,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * The tamper-evident audit log (SPEC §6). Callers pass what happened; never a secret — data
 * fields go through JSON as given, so callers pass ids and names, not keys or credentials.
 */
export function createAuditService({ auditStore, clock }: AuditServiceDeps) {
  return {
    async record(event: AuditEventInput): Promise<AuditEntry> {
      const now = clock.now();
      const row = await auditStore.append({
        id: newId('audit', now.getTime()),
        created_at: now.toISOString(),
        actor_type: event.actor.type,
        actor_id: event.actor.id,
        action: event.action,
        target_type: event.targetType,
        target_id: event.targetId ?? null,
        client_id: event.clientId ?? null,
        ip: event.actor.ip ?? null,
        data: JSON.stringify(event.data ?? {}),
      });
      return toEntry(row);
    },

    async list(
      filter: AuditFilter = {},
    ): Promise<{ data: AuditEntry[]; nextCursor: string | null }> {
      return readPage(
        filter,
        (limit) => auditStore.list({ ...filter, limit }),
        (rows) => rows.map(toEntry),
        (entry) => String(entry.seq),
      );
    },

    /**
     * Walks the whole chain; names the first entry that was edited, removed or reordered. An
     * entry and the head move in one transaction, so a walk that ends past the head it read
     * first met entries appended meanwhile (a running server audits every change): it reads
     * the head again and walks on to it. Only entries past the latest head are a break.
     */
    async verify(onProgress?: (checked: number, total: number) => void): Promise<ChainVerdict> {
      let head = await auditStore.head();
      let prev = { seq: 0, hash: GENESIS_HASH };
      let entries = 0;
      for (;;) {
        for (;;) {
          const rows = await auditStore.page(prev.seq, 1000);
          for (const row of rows) {
            const check = checkLink({ ...row, seq: Number(row.seq) }, prev);
            if (!check.ok)
              return { ok: false, entries, firstBadSeq: check.seq, reason: check.reason };
            prev = { seq: Number(row.seq), hash: row.hash };
            entries++;
          }
          onProgress?.(entries, head.seq);
          if (rows.length < 1000) break;
        }
        if (prev.seq <= head.seq) break;
        const later = await auditStore.head();
        if (later.seq === head.seq) break; // nothing was appended: the extra entries are forged
        head = later;
      }
      if (prev.seq !== head.seq) {
        return {
          ok: false,
          entries,
          firstBadSeq: prev.seq + 1,
          reason: `entry ${prev.seq + 1} is missing (the log ends at ${prev.seq}, its head at ${head.seq})`,
        };
      }
      if (prev.hash !== head.last_hash) {
        return {
          ok: false,
          entries,
          firstBadSeq: prev.seq,
          reason: `entry ${prev.seq} does not match the chain head`,
        };
      }
      return { ok: true, entries, headSeq: head.seq };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
