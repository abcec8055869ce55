import { describe, expect, it } from 'vitest';
import { RowError } from './import-fns.ts';
import { mapPermasKey, mapScopes, sourceList } from './permas-keys-fns.ts';

const row = {
  token_id: 'tok_1',
  provider_id: 'provider123',
  environment: 'live',
  token_hash: 'A'.repeat(64),
  scopes: '["api:access"]',
};

describe('seed 05 row mapping', () => {
  it('keeps area:action scopes; * and admin become every scope', () => {
    expect(mapScopes(['api:access', 'reports:read', 'api:access'])).toEqual([
      'api:access',
      'reports:read',
    ]);
    expect(mapScopes(['admin'])).toEqual(['*']);
    expect(() => mapScopes(['no spaces'])).toThrow(RowError);
  });

  it('reads JSON lists and plain comma lists', () => {
    expect(sourceList('["192.168.1.1", "10.0.0.0/8"]', 'ip')).toEqual([
      '192.168.1.1',
      '10.0.0.0/8',
    ]);
    expect(sourceList('a, b', 'scopes')).toEqual(['a', 'b']);
    expect(sourceList(null, 'scopes')).toEqual([]);
    expect(() => sourceList('[1, 2]', 'scopes')).toThrow('scopes must be a JSON list of strings');
    expect(() => sourceList('[oops', 'scopes')).toThrow('scopes is not valid JSON');
  });

  it('maps a revoked token with its reason, the hash lowercased', () => {
    const key = mapPermasKey({
      ...row,
      is_revoked: 1,
      revoked_at: '2025-09-15 08:00:00',
      revocation_reason: 'leaked',
    });
    expect(key).toMatchObject({
      keyHash: 'a'.repeat(64),
      environment: 'live',
      start: 'permas_live_tok_1',
      revoked: { at: '2025-09-15T08:00:00.000Z', reason: 'leaked' },
    });
    expect(mapPermasKey(row).revoked).toBeNull();
  });

  it('refuses a wrong environment, hash or request count', () => {
    expect(() => mapPermasKey({ ...row, environment: 'prod' })).toThrow('environment must be');
    expect(() => mapPermasKey({ ...row, token_hash: 'x' })).toThrow('token_hash');
    expect(() => mapPermasKey({ ...row, request_count: 1.5 })).toThrow('request_count');
  });
});
