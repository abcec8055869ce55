import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateKey, keyPattern, parseKey } from '../lib/key-format.ts';
import {
  canonicalSignature,
  exposureEmail,
  findKeys,
  openSealedKey,
  parseGithubPublicKeys,
  secretEquals,
  sealKey,
  verifyGithubSignature,
} from './leaks-fns.ts';
import { parseGithubReport, parseGitlabReport } from './leaks-wire.ts';

const pair = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

describe('findKeys', () => {
  const pattern = keyPattern(['kp']);

  it('finds keys with their line and column, and nothing whose checksum fails', () => {
    const a = generateKey('kp', 'live');
    const b = generateKey('kp', 'test');
    const bad = a.slice(0, -1) + (a.endsWith('0') ? '1' : '0');
    const text = `first line\n  key=${a}\n${bad}\n\n"${b}", ${a}`;
    expect(findKeys(text, pattern).map(({ line, column, start }) => [line, column, start])).toEqual(
      [
        [2, 7, parseKey(a)!.start],
        [5, 2, parseKey(b)!.start],
        [5, 62, parseKey(a)!.start],
      ],
    );
  });

  it('does not find a key inside a longer run of key characters, nor another prefix', () => {
    const k = generateKey('kp', 'live');
    expect(findKeys(`x${k}`, pattern)).toEqual([]);
    expect(findKeys(`${k}x`, pattern)).toEqual([]);
    expect(findKeys(generateKey('zz', 'live'), pattern)).toEqual([]);
    expect(findKeys(`_${k}`, pattern)).toHaveLength(1);
  });

  it('finds every planted key in random text, and only those', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 20 }),
        fc.nat(19),
        (parts, at) => {
          const key = generateKey('kp', 'live');
          const text = [...parts.slice(0, at), ` ${key} `, ...parts.slice(at)].join('\n');
          expect(findKeys(text, pattern).map((f) => f.key)).toEqual([key]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('GitHub signatures', () => {
  it('verifies the raw bytes, refuses any other body, key or garbage without throwing', () => {
    const { privateKey, publicKey } = pair();
    const body = Buffer.from('[{"token":"x"}]');
    const sig = sign('sha256', body, { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    expect(verifyGithubSignature(body, sig, publicKey)).toBe(true);
    expect(verifyGithubSignature(Buffer.from('[{"token":"y"}]'), sig, publicKey)).toBe(false);
    expect(verifyGithubSignature(body, sig, pair().publicKey)).toBe(false);
    for (const junk of ['', '!!!', 'AAAA', randomBytes(70).toString('base64'), 'x'.repeat(5000)])
      expect(verifyGithubSignature(body, junk, publicKey)).toBe(false);
  });

  it('canonical form: both signatures (s and n - s) of one body map to the same bytes', () => {
    const { privateKey } = pair();
    for (let i = 0; i < 20; i++) {
      const der = sign('sha256', Buffer.from(`b${i}`), { key: privateKey, dsaEncoding: 'der' });
      const c = canonicalSignature(der)!;
      expect(c).toHaveLength(64);
      const s = BigInt('0x' + c.subarray(32).toString('hex'));
      expect(
        s <= BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551') / 2n,
      ).toBe(true);
    }
    expect(canonicalSignature(Buffer.from('nope'))).toBeNull();
    expect(canonicalSignature(randomBytes(72))).toBeNull();
  });

  it('reads the public keys document, skipping entries that are not keys', () => {
    const pem = pair().publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keys = parseGithubPublicKeys({
      public_keys: [
        { key_identifier: 'a', key: pem, is_current: true },
        { key_identifier: 'b', key: 'not a key' },
        { key: pem },
      ],
    });
    expect([...keys.keys()]).toEqual(['a']);
    expect(parseGithubPublicKeys(null).size).toBe(0);
    expect(parseGithubPublicKeys({ public_keys: 'x' }).size).toBe(0);
  });
});

describe('sealed replacement keys', () => {
  const master = randomBytes(32);
  const ids = { clientId: 'client_1', keyId: 'key_1', masterKeyId: 'default' };

  it('open what was sealed, and fail when moved, edited or under another key', () => {
    const key = generateKey('kp', 'live');
    const sealed = sealKey(key, master, ids);
    expect(sealed).not.toContain(key);
    expect(openSealedKey(sealed, master, ids)).toBe(key);
    expect(() => openSealedKey(sealed, master, { ...ids, clientId: 'client_2' })).toThrow();
    expect(() => openSealedKey(sealed, randomBytes(32), ids)).toThrow();
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => openSealedKey(parts.join('.'), master, ids)).toThrow();
  });
});

describe('wire formats and helpers', () => {
  it('GitHub: an array of {token, type, url, source}; anything else is a 4xx', () => {
    const ok = Buffer.from(
      JSON.stringify([{ token: 't', type: 'x', url: 'u', source: 'content' }]),
    );
    expect(parseGithubReport(ok, 10)).toEqual([{ token: 't', type: 'x', url: 'u' }]);
    for (const bad of ['{', '{}', '[1]', '[{"type":"x"}]', '"x"'])
      expect(() => parseGithubReport(Buffer.from(bad), 10)).toThrow(/./);
    expect(() => parseGithubReport(Buffer.from('[{"token":"a"},{"token":"b"}]'), 1)).toThrow(
      /at most 1/,
    );
  });

  it('GitLab: an array of {type, token, location} of the accepted types', () => {
    expect(parseGitlabReport([{ type: 'a', token: 't', location: 'l' }], ['a'], 5)).toEqual([
      { token: 't', type: 'a', url: 'l' },
    ]);
    expect(() => parseGitlabReport([{ type: 'b', token: 't' }], ['a'], 5)).toThrow(/not supported/);
    expect(() => parseGitlabReport({ token: 't' }, ['a'], 5)).toThrow();
  });

  it('secretEquals compares whole secrets', () => {
    expect(secretEquals('abc', 'abc')).toBe(true);
    expect(secretEquals('abc', 'abd')).toBe(false);
    expect(secretEquals('ab', 'abc')).toBe(false);
    expect(secretEquals('', 'abc')).toBe(false);
  });

  it('the exposure email names the key by start and id, escapes HTML, never holds a key', () => {
    const m = exposureEmail({
      to: 'a@b.c',
      clientName: '<Acme>',
      keyId: 'key_1',
      keyStart: 'kp_live_AbCd',
      source: 'github',
      url: 'https://x/?a=1&b=2',
      action: 'revoked',
    });
    expect(m.subject).toContain('kp_live_AbCd');
    expect(m.html).toContain('&lt;Acme&gt;');
    expect(m.html).toContain('a=1&amp;b=2');
    expect(m.text).toContain('revoked');
  });
});
