import { describe, expect, it } from 'vitest';
import { clientViewOfTrailEntry, type TrailEntry } from './credentials-fns.ts';

const entry = (actorType: string, actorId: string, ip: string | null): TrailEntry => ({
  id: 'aud_1',
  createdAt: '2025-01-01T00:00:00.000Z',
  action: 'credential.updated',
  actorType,
  actorId,
  ip,
  data: { provider: 'vultr' },
});

describe('clientViewOfTrailEntry', () => {
  it("keeps the client's own acts as they are", () => {
    const own = entry('client', 'key_1', '192.0.2.1');
    expect(clientViewOfTrailEntry(own)).toEqual(own);
  });

  it('shows admin tokens, the CLI and anyone else as operator, without id or IP', () => {
    for (const type of ['admin', 'cli', 'anonymous']) {
      const seen = clientViewOfTrailEntry(entry(type, 'adm_secretid', '198.51.100.7'));
      expect(seen).toEqual({
        id: 'aud_1',
        createdAt: '2025-01-01T00:00:00.000Z',
        action: 'credential.updated',
        actorType: 'operator',
        data: { provider: 'vultr' },
      });
    }
  });

  it('shows the system as system, without id or IP', () => {
    const seen = clientViewOfTrailEntry(entry('system', 'rewrap', null));
    expect(seen.actorType).toBe('system');
    expect(seen).not.toHaveProperty('actorId');
    expect(seen).not.toHaveProperty('ip');
  });
});
