import { describe, expect, it } from 'vitest';
import { isLegacyCandidate, legacyKeyRow } from './legacy-keys-fns.ts';

describe('legacy keys', () => {
  it('looks up only bounded, printable strings', () => {
    expect(isLegacyCandidate('permas_live_abc123')).toBe(true);
    expect(isLegacyCandidate('short')).toBe(false);
    expect(isLegacyCandidate('has space inside')).toBe(false);
    expect(isLegacyCandidate('x'.repeat(257))).toBe(false);
    expect(isLegacyCandidate(42)).toBe(false);
  });

  it('builds a legacy row: hash lowercased, scopes, CIDRs and times normalized', () => {
    const row = legacyKeyRow(
      'client_1',
      {
        keyHash: 'AB'.repeat(32),
        start: 'permas_live_…',
        environment: 'test',
        scopes: ['api:access'],
        ipAllowlist: ['192.168.1.1'],
        expiresAt: '2026-01-01T00:00:00Z',
        revoked: { at: '2025-11-01T00:00:00Z', reason: 'compromised' },
      },
      new Date('2025-12-01T00:00:00Z'),
    );
    expect(row).toMatchObject({
      key_hash: 'ab'.repeat(32),
      environment: 'test',
      scopes: '["api:access"]',
      ip_allowlist: '["192.168.1.1/32"]',
      expires_at: '2026-01-01T00:00:00.000Z',
      status: 'revoked',
      revoked_reason: 'compromised',
      legacy: 1,
    });
    expect(() => legacyKeyRow('c', { keyHash: 'zz', start: 's' }, new Date())).toThrow('SHA-256');
    expect(() =>
      legacyKeyRow('c', { keyHash: 'a'.repeat(64), start: 's', ipAllowlist: ['nope'] }, new Date()),
    ).toThrow('invalid IP');
  });
});
