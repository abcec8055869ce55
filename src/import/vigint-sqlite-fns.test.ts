import { describe, expect, it } from 'vitest';
import { checkColumns, firstById, RowError, sourceTime } from './import-fns.ts';
import { mapKey, mapPayment, mapUsage } from './vigint-sqlite-fns.ts';

const HASH = 'a'.repeat(64);

describe('Vigint row mapping', () => {
  it('reads seed 01/02 times as UTC', () => {
    expect(sourceTime('2025-10-02', 't')).toBe('2025-10-02T00:00:00.000Z');
    expect(sourceTime('2025-10-02 16:10:00', 't')).toBe('2025-10-02T16:10:00.000Z');
    expect(sourceTime('2025-10-02T16:10:00+02:00', 't')).toBe('2025-10-02T14:10:00.000Z');
    expect(sourceTime(null, 't')).toBeNull();
    expect(() => sourceTime('yesterday', 'timestamp')).toThrow('timestamp is not a valid time');
  });

  it('prices usage at the recorded cost, exactly, in micros', () => {
    expect(mapUsage({ endpoint: '/api/alert', cost: 0.1, timestamp: '2025-10-02' })).toEqual({
      endpoint: '/api/alert',
      priceMicros: 100_000,
      at: '2025-10-02T00:00:00.000Z',
    });
    expect(
      mapUsage({ endpoint: '/x', cost: '0.000001', timestamp: '2025-10-02' }).priceMicros,
    ).toBe(1);
    expect(() => mapUsage({ endpoint: '/x', cost: 0.0000001, timestamp: '2025-10-02' })).toThrow(
      RowError,
    );
    expect(() => mapUsage({ endpoint: '/x', cost: -1, timestamp: '2025-10-02' })).toThrow(
      'negative',
    );
  });

  it('keeps a key by its hash; an inactive key is imported revoked', () => {
    const key = mapKey({
      id: 4,
      key_hash: HASH.toUpperCase(),
      is_active: 0,
      created_at: '2025-09-01',
    });
    expect(key).toMatchObject({
      keyHash: HASH,
      start: 'vigint_4',
      scopes: ['*'],
      revoked: { at: '2025-09-01T00:00:00.000Z', reason: 'inactive in Vigint' },
    });
    expect(mapKey({ id: 1, key_hash: HASH, is_active: 1 }).revoked).toBeNull();
    expect(() => mapKey({ id: 1, key_hash: 'abc', is_active: 1 })).toThrow('SHA-256');
    expect(() => mapKey({ id: 1, key_hash: HASH, is_active: 'maybe' })).toThrow('boolean');
  });

  it('maps payment methods and frequency', () => {
    expect(mapPayment({ payment_method: 'Credit Card' })).toMatchObject({
      method: 'card',
      frequency: 'weekly',
    });
    expect(mapPayment({ payment_method: 'sepa', frequency: 'Monthly' })).toMatchObject({
      method: 'sepa_debit',
      frequency: 'monthly',
    });
    expect(mapPayment({ payment_method: 'cheque' }).method).toBe('other');
    expect(() => mapPayment({ payment_method: 'card', frequency: 'daily' })).toThrow(
      'weekly or monthly',
    );
  });

  it('names unknown and missing columns', () => {
    expect(checkColumns('t', ['id', 'x'], ['id'], ['id'])).toBe('t: unknown column(s) x');
    expect(checkColumns('t', ['name'], ['id', 'name'], ['id'])).toBe('t: missing column(s) id');
    expect(checkColumns('t', ['id'], ['id'], ['id'])).toBeNull();
  });

  it('keeps the first of repeated ids', () => {
    const { unique, duplicates } = firstById([{ id: 1 }, { id: 2 }, { id: 1 }], (r) =>
      String(r.id),
    );
    expect(unique).toEqual([{ id: 1 }, { id: 2 }]);
    expect(duplicates).toEqual([{ id: 1 }]);
  });
});
