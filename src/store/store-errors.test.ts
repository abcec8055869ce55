import { describe, expect, it } from 'vitest';
import { isStorageUnavailable } from './store-errors.ts';

describe('isStorageUnavailable', () => {
  it('recognizes an unreachable or vanished store on either engine', () => {
    for (const err of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('database "x" does not exist'), { code: '3D000' }),
      Object.assign(new Error('terminating connection due to administrator command'), {
        code: '57P01',
      }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      Object.assign(new Error('too many connections'), { code: '53300' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }),
      Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }),
    ]) {
      expect(isStorageUnavailable(err), err.message).toBe(true);
    }
  });

  it('leaves query bugs and constraint violations alone', () => {
    for (const err of [
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      Object.assign(new Error('syntax error'), { code: '42601' }),
      Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }),
      new TypeError('x is undefined'),
      null,
      'boom',
    ]) {
      expect(isStorageUnavailable(err)).toBe(false);
    }
  });
});
