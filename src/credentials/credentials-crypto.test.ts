import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Keyring } from '../infra/master-key.ts';
import {
  masterKeyCheckValue,
  openCredential,
  rewrapDataKey,
  sealCredential,
  VaultCryptoError,
} from './credentials-crypto.ts';

const ring = (active: string, ...ids: string[]): Keyring => ({
  activeId: active,
  keys: new Map(ids.map((id) => [id, KEYS[id]!])),
  source: 'env',
});
const KEYS: Record<string, Buffer> = { a: randomBytes(32), b: randomBytes(32) };
const A = { credentialId: 'cred_1', ownerId: 'client_1' };
const secret = Buffer.from('{"apiKey":"s3cr3t-value"}');

function flip(sealed: string, part: number): string {
  const parts = sealed.split('.');
  const buf = Buffer.from(parts[part]!, 'base64url');
  buf[0]! ^= 0x01;
  parts[part] = buf.toString('base64url');
  return parts.join('.');
}

describe('envelope encryption', () => {
  it('seals with a fresh data key and IV each time, and opens again', () => {
    const k = ring('a', 'a');
    const one = sealCredential(k, A, secret);
    const two = sealCredential(k, A, secret);
    expect(one.secret).not.toBe(two.secret);
    expect(one.wrappedKey).not.toBe(two.wrappedKey);
    expect(one.masterKeyId).toBe('a');
    expect(one.secret).not.toContain('s3cr3t');
    expect(openCredential(k, A, one).equals(secret)).toBe(true);
  });

  it('refuses a ciphertext moved to another row or another owner', () => {
    const k = ring('a', 'a');
    const sealed = sealCredential(k, A, secret);
    expect(() => openCredential(k, { ...A, credentialId: 'cred_2' }, sealed)).toThrow(
      VaultCryptoError,
    );
    expect(() => openCredential(k, { ...A, ownerId: 'client_2' }, sealed)).toThrow(
      VaultCryptoError,
    );
    expect(() => openCredential(k, { ...A, ownerId: 'platform' }, sealed)).toThrow(
      VaultCryptoError,
    );
    // Only the secret moved, under another row's (valid) data key.
    const other = sealCredential(
      k,
      { ...A, credentialId: 'cred_2' },
      Buffer.from('{"apiKey":"x"}'),
    );
    expect(() =>
      openCredential(k, { ...A, credentialId: 'cred_2' }, { ...other, secret: sealed.secret }),
    ).toThrow(VaultCryptoError);
  });

  it('refuses a flipped bit anywhere: IV, tag or ciphertext, of the secret or the data key', () => {
    const k = ring('a', 'a');
    const sealed = sealCredential(k, A, secret);
    for (const part of [1, 2, 3]) {
      expect(() => openCredential(k, A, { ...sealed, secret: flip(sealed.secret, part) })).toThrow(
        /integrity|damaged/,
      );
      expect(() =>
        openCredential(k, A, { ...sealed, wrappedKey: flip(sealed.wrappedKey, part) }),
      ).toThrow(/integrity|damaged/);
    }
  });

  it('refuses the wrong master key, a relabelled key id, and a shredded data key', () => {
    const sealed = sealCredential(ring('a', 'a'), A, secret);
    const wrong: Keyring = { activeId: 'a', keys: new Map([['a', KEYS.b!]]), source: 'env' };
    expect(() => openCredential(wrong, A, sealed)).toThrow(/integrity/);
    expect(() => openCredential(ring('a', 'a', 'b'), A, { ...sealed, masterKeyId: 'b' })).toThrow(
      VaultCryptoError,
    );
    expect(() => openCredential(ring('b', 'b'), A, sealed)).toThrow(/not in the keyring/);
    expect(() => openCredential(ring('a', 'a'), A, { ...sealed, wrappedKey: null })).toThrow(
      /shredded/,
    );
  });

  it('rewraps a data key to the active master key without touching the secret', () => {
    const sealed = sealCredential(ring('a', 'a'), A, secret);
    const both = ring('b', 'a', 'b');
    const moved = rewrapDataKey(both, A, sealed.wrappedKey, sealed.masterKeyId);
    expect(moved.masterKeyId).toBe('b');
    const after = { secret: sealed.secret, ...moved };
    expect(openCredential(ring('b', 'b'), A, after).equals(secret)).toBe(true);
    expect(() => openCredential(ring('a', 'a'), A, after)).toThrow(VaultCryptoError);
  });

  it('check values tell keys apart without revealing them', () => {
    const a = masterKeyCheckValue(KEYS.a!, 'default');
    expect(a).toBe(masterKeyCheckValue(KEYS.a!, 'default'));
    expect(a).not.toBe(masterKeyCheckValue(KEYS.b!, 'default'));
    expect(a).not.toBe(masterKeyCheckValue(KEYS.a!, 'other'));
    expect(a).not.toContain(KEYS.a!.toString('hex'));
  });
});
