import { createHash } from 'node:crypto';
import type { AuditLogTable } from './audit-types.ts';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * The hash of one entry: SHA-256 over the previous entry's hash and every field of this one,
 * seq included, so an edited, removed or reordered row breaks the chain from that row on.
 */
export function entryHash(row: Omit<AuditLogTable, 'hash'>): string {
  const fields = [
    row.seq,
    row.id,
    row.created_at,
    row.actor_type,
    row.actor_id,
    row.action,
    row.target_type,
    row.target_id,
    row.client_id,
    row.ip,
    row.data,
  ];
  return createHash('sha256')
    .update(row.prev_hash)
    .update('\n')
    .update(JSON.stringify(fields))
    .digest('hex');
}

export type ChainCheck = { ok: true } | { ok: false; seq: number; reason: string };

/** Checks one row against the one before it (or the genesis when it is the first). */
export function checkLink(row: AuditLogTable, prev: { seq: number; hash: string }): ChainCheck {
  if (row.seq !== prev.seq + 1) {
    return {
      ok: false,
      seq: prev.seq + 1,
      reason:
        row.seq > prev.seq + 1
          ? `entry ${prev.seq + 1} is missing (next entry is ${row.seq})`
          : `entry ${row.seq} is out of order`,
    };
  }
  if (row.prev_hash !== prev.hash) {
    return {
      ok: false,
      seq: row.seq,
      reason: `entry ${row.seq} does not follow entry ${prev.seq} (chain broken)`,
    };
  }
  if (entryHash(row) !== row.hash) {
    return { ok: false, seq: row.seq, reason: `entry ${row.seq} was modified (hash mismatch)` };
  }
  return { ok: true };
}
