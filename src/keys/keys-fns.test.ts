import { describe, expect, it } from 'vitest';
import {
  compileAllowlist,
  excessPowers,
  hasScopes,
  ipAllowed,
  Lru,
  parseCidr,
  refillPeriodStart,
  validateScopes,
} from './keys-fns.ts';

describe('keys fns', () => {
  it('parses IPv4 and IPv6 CIDRs and bare addresses', () => {
    expect(parseCidr('10.0.0.0/8').cidr).toBe('10.0.0.0/8');
    expect(parseCidr('192.168.1.1').cidr).toBe('192.168.1.1/32');
    expect(parseCidr('2001:db8::/32')).toMatchObject({ family: 'ipv6', prefix: 32 });
    expect(parseCidr('::ffff:10.1.2.3').cidr).toBe('10.1.2.3/32');
    for (const bad of [
      '',
      'x',
      '10.0.0.0/33',
      '10.0.0.0/-1',
      '10.0.0.0/8/9',
      '::/129',
      '10.0.0.0/a',
    ]) {
      expect(() => parseCidr(bad), bad).toThrow();
    }
  });

  it('matches addresses against an allowlist, dual-stack included', () => {
    const list = compileAllowlist(['10.0.0.0/8', '2001:db8::/32']);
    expect(ipAllowed(list, '10.20.30.40')).toBe(true);
    expect(ipAllowed(list, '::ffff:10.20.30.40')).toBe(true);
    expect(ipAllowed(list, '11.0.0.1')).toBe(false);
    expect(ipAllowed(list, '2001:db8::1')).toBe(true);
    expect(ipAllowed(list, '2001:db9::1')).toBe(false);
    expect(ipAllowed(list, undefined)).toBe(false);
    expect(ipAllowed(list, 'garbage')).toBe(false);
    expect(ipAllowed(compileAllowlist([]), '1.2.3.4')).toBe(true);
  });

  it('checks scopes, with * granting all', () => {
    expect(hasScopes(['a', 'b'], ['a'])).toBe(true);
    expect(hasScopes(['a'], ['a', 'b'])).toBe(false);
    expect(hasScopes(['*'], ['anything'])).toBe(true);
    expect(hasScopes([], undefined)).toBe(true);
    expect(validateScopes(['a', 'a', 'keys:write'])).toEqual(['a', 'keys:write']);
    expect(() => validateScopes(['bad scope'])).toThrow();
  });

  it('starts refill periods at UTC day and month boundaries', () => {
    const t = new Date('2025-10-15T13:45:00.000Z');
    expect(refillPeriodStart('daily', t)).toBe('2025-10-15T00:00:00.000Z');
    expect(refillPeriodStart('monthly', t)).toBe('2025-10-01T00:00:00.000Z');
  });

  it('evicts the least recently used entry', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a');
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.size).toBe(2);
  });

  it('keeps an entry read all along while the cold ones are evicted', () => {
    const lru = new Lru<number, number>(100);
    for (let i = 0; i < 100; i++) lru.set(i, i);
    for (let i = 100; i < 1000; i++) {
      expect(lru.get(0)).toBe(0);
      lru.set(i, i);
    }
    expect(lru.size).toBe(100);
    expect(lru.get(1)).toBeUndefined();
    expect(lru.get(500)).toBeUndefined();
    expect(lru.get(999)).toBe(999);
    expect([...lru.values()]).toContain(0);
  });
});

describe('self-service key powers', () => {
  const parent = {
    scopes: ['keys:write', 'usage:read'],
    ipAllowlist: ['10.0.0.0/8'],
    expiresAt: '2030-01-01T00:00:00.000Z',
    rateLimit: { limit: 100, windowSeconds: 60 },
    limitedCredits: false,
  };
  it('accepts a child no more powerful than its parent', () => {
    expect(
      excessPowers(parent, { ...parent, scopes: ['usage:read'], ipAllowlist: ['10.1.0.0/16'] }),
    ).toEqual([]);
    expect(
      excessPowers(parent, { ...parent, rateLimit: { limit: 10, windowSeconds: 60 } }),
    ).toEqual([]);
  });
  it('names every way a child would exceed it', () => {
    const got = excessPowers(parent, {
      scopes: ['*'],
      ipAllowlist: ['0.0.0.0/0'],
      expiresAt: null,
      rateLimit: { limit: 1000, windowSeconds: 60 },
      limitedCredits: false,
    });
    expect(got).toHaveLength(4);
    expect(excessPowers({ ...parent, limitedCredits: true }, parent)).toHaveLength(1);
    expect(excessPowers(parent, { ...parent, ipAllowlist: ['11.0.0.0/8'] })).toHaveLength(1);
    expect(excessPowers(parent, { ...parent, rateLimit: null })).toHaveLength(1);
  });
  it('lets an unrestricted owner key hand out anything', () => {
    const owner = {
      scopes: ['*'],
      ipAllowlist: [],
      expiresAt: null,
      rateLimit: null,
      limitedCredits: false,
    };
    expect(excessPowers(owner, { ...parent, scopes: ['*'] })).toEqual([]);
  });
});
