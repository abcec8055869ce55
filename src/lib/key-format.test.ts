import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import {
  checksumOf,
  generateKey,
  hashKey,
  keyPattern,
  keyPatternSource,
  keyPrefixOf,
  parseKey,
  toBase62,
} from './key-format.ts';

describe('key format', () => {
  it('generates keys of the exact SPEC shape', () => {
    for (let i = 0; i < 200; i++) {
      const k = generateKey('kp', i % 2 ? 'live' : 'test');
      expect(k).toMatch(/^kp_(live|test)_[0-9A-Za-z]{49}$/);
      expect(parseKey(k)).not.toBeNull();
    }
  });

  it('encodes base62 most significant first, left-padded', () => {
    expect(toBase62(0n, 3)).toBe('000');
    expect(toBase62(61n, 2)).toBe('0z');
    expect(toBase62(62n, 2)).toBe('10');
    expect(toBase62(new Uint8Array(32).fill(255), 43)).toHaveLength(43);
  });

  it('checksums the text before it with CRC-32 (zlib)', () => {
    const body = 'kp_live_' + '0'.repeat(43);
    const n = crc32(Buffer.from(body));
    expect(checksumOf(body)).toBe(toBase62(BigInt(n), 6));
    expect(parseKey(body + checksumOf(body))).toEqual({
      prefix: 'kp',
      environment: 'live',
      start: 'kp_live_0000',
    });
  });

  it('rejects a key with one character changed', () => {
    const k = generateKey('kp', 'live');
    const i = 12;
    const swapped = k.slice(0, i) + (k[i] === 'a' ? 'b' : 'a') + k.slice(i + 1);
    expect(parseKey(swapped)).toBeNull();
  });

  it.each([
    '',
    'kp_live_',
    'kp_prod_' + 'a'.repeat(49),
    'KP_live_' + 'a'.repeat(49),
    'x'.repeat(10_000),
    'kp_live_' + 'a'.repeat(48) + '\u0000',
    'kp_live_' + 'é'.repeat(49),
    42,
    null,
    { key: 'x' },
  ])('rejects malformed input %#', (input) => {
    expect(parseKey(input)).toBeNull();
  });

  it('hashes with SHA-256', () => {
    expect(hashKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('keyPrefixOf (shape only)', () => {
  it('gives the prefix of anything shaped like a key, checksum or not', () => {
    const key = generateKey('kp', 'live');
    const badSum = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    expect(keyPrefixOf(key)).toBe('kp');
    expect(keyPrefixOf(badSum)).toBe('kp');
    expect(parseKey(badSum)).toBeNull();
    for (const junk of [
      undefined,
      42,
      '',
      'kp_live_',
      `${key}x`,
      'x'.repeat(10_000),
      `${key}\u0000`,
    ])
      expect(keyPrefixOf(junk)).toBeNull();
  });
});

describe('key pattern (secret scanning)', () => {
  it('matches exactly the keys of the given prefixes, the shape parseKey accepts', () => {
    const re = new RegExp(`^${keyPatternSource(['kp'])}$`);
    for (let i = 0; i < 50; i++)
      expect(re.test(generateKey('kp', i % 2 ? 'live' : 'test'))).toBe(true);
    expect(re.test(generateKey('kpadm', 'live'))).toBe(false);
    expect(re.test('kp_live_short')).toBe(false);
    const both = new RegExp(`^${keyPatternSource(['kp', 'kpadm'])}$`);
    expect(both.test(generateKey('kpadm', 'live'))).toBe(true);
  });

  it('keyPattern finds keys in text, not inside longer words', () => {
    const k = generateKey('kp', 'live');
    expect(`a ${k} b`.match(keyPattern(['kp']))).toEqual([k]);
    expect(`a${k}`.match(keyPattern(['kp']))).toBeNull();
  });
});
