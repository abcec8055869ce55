import { describe, expect, it } from 'vitest';
import { checkLink, entryHash, GENESIS_HASH } from './audit-fns.ts';
import type { AuditLogTable } from './audit-types.ts';

function chain(n: number): AuditLogTable[] {
  const rows: AuditLogTable[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const base = {
      seq,
      id: `aud_${seq}`,
      created_at: new Date(seq * 1000).toISOString(),
      actor_type: 'admin',
      actor_id: 'adm_1',
      action: 'client.created',
      target_type: 'client',
      target_id: `client_${seq}`,
      client_id: `client_${seq}`,
      ip: '127.0.0.1',
      data: '{}',
      prev_hash: prev,
    };
    const row = { ...base, hash: entryHash(base) };
    rows.push(row);
    prev = row.hash;
  }
  return rows;
}

function firstBad(rows: AuditLogTable[]) {
  let prev = { seq: 0, hash: GENESIS_HASH };
  for (const r of rows) {
    const c = checkLink(r, prev);
    if (!c.ok) return c;
    prev = r;
  }
  return { ok: true as const };
}

describe('audit chain', () => {
  it('accepts an intact chain', () => {
    expect(firstBad(chain(5))).toEqual({ ok: true });
  });
  it('names an edited entry', () => {
    const rows = chain(5);
    rows[2] = { ...rows[2]!, action: 'client.deleted' };
    expect(firstBad(rows)).toMatchObject({ ok: false, seq: 3 });
  });
  it('names a removed entry', () => {
    const rows = chain(5);
    rows.splice(1, 1);
    expect(firstBad(rows)).toMatchObject({ ok: false, seq: 2 });
  });
  it('names reordered entries', () => {
    const rows = chain(5);
    const a = rows[1]!;
    const b = rows[2]!;
    rows[1] = { ...b, seq: 2 };
    rows[2] = { ...a, seq: 3 };
    expect(firstBad(rows)).toMatchObject({ ok: false, seq: 2 });
  });
});
