import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { Keyring } from '../infra/master-key.ts';

/**
 * Envelope encryption for the vault (node:crypto only).
 *
 * - Each credential gets its own random 256-bit data key (DEK). The secret is sealed with
 *   AES-256-GCM under that DEK, a fresh 96-bit IV, and associated data binding the credential
 *   id and its owner (client id or `platform`): a ciphertext copied to another row or tenant
 *   fails its tag check instead of opening.
 * - The DEK is sealed ("wrapped") with AES-256-GCM under a master key from the keyring, its
 *   associated data binding the same ids plus the master key id. Rewrapping moves a DEK to
 *   another master key without touching the sealed secret.
 * - Shredding a credential drops its wrapped DEK: the sealed secret can never open again.
 *
 * Sealed values are text: `v1.{iv}.{tag}.{ciphertext}`, each part base64url.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Binding {
  credentialId: string;
  ownerId: string;
}

/** Opening failed: wrong key, moved ciphertext, flipped bit or unknown master key. */
export class VaultCryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultCryptoError';
  }
}

function secretAad(b: Binding): Buffer {
  return Buffer.from(`keyplane:credential-secret:v1\n${b.credentialId}\n${b.ownerId}`, 'utf8');
}

function dekAad(b: Binding, masterKeyId: string): Buffer {
  return Buffer.from(
    `keyplane:credential-dek:v1\n${b.credentialId}\n${b.ownerId}\n${masterKeyId}`,
    'utf8',
  );
}

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, iv, tag, ct]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

function open(key: Buffer, sealed: string, aad: Buffer, what: string): Buffer {
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION) {
    throw new VaultCryptoError(`${what} is not in a format this version can open`);
  }
  const [iv, tag, ct] = parts.slice(1).map((p) => Buffer.from(p, 'base64url')) as [
    Buffer,
    Buffer,
    Buffer,
  ];
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new VaultCryptoError(`${what} is damaged`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    // GCM authentication failed: never return what the bytes would decrypt to.
    throw new VaultCryptoError(`${what} failed its integrity check`);
  }
}

function masterKey(keyring: Keyring, id: string): Buffer {
  const key = keyring.keys.get(id);
  if (!key) throw new VaultCryptoError(`master key "${id}" is not in the keyring`);
  return key;
}

export interface SealedCredential {
  secret: string;
  wrappedKey: string;
  masterKeyId: string;
}

/** Seals a secret under a fresh data key, wrapped with the keyring's active master key. */
export function sealCredential(keyring: Keyring, b: Binding, plaintext: Buffer): SealedCredential {
  const dek = randomBytes(32);
  try {
    const secret = seal(dek, plaintext, secretAad(b));
    const wrappedKey = seal(masterKey(keyring, keyring.activeId), dek, dekAad(b, keyring.activeId));
    return { secret, wrappedKey, masterKeyId: keyring.activeId };
  } finally {
    dek.fill(0);
  }
}

export function unwrapDataKey(
  keyring: Keyring,
  b: Binding,
  wrappedKey: string,
  masterKeyId: string,
): Buffer {
  const dek = open(masterKey(keyring, masterKeyId), wrappedKey, dekAad(b, masterKeyId), 'data key');
  if (dek.length !== 32) throw new VaultCryptoError('data key has the wrong length');
  return dek;
}

/** Opens a sealed secret. Throws VaultCryptoError; never returns unauthenticated bytes. */
export function openCredential(
  keyring: Keyring,
  b: Binding,
  sealed: { secret: string; wrappedKey: string | null; masterKeyId: string | null },
): Buffer {
  if (!sealed.wrappedKey || !sealed.masterKeyId) {
    throw new VaultCryptoError('data key was shredded');
  }
  const dek = unwrapDataKey(keyring, b, sealed.wrappedKey, sealed.masterKeyId);
  try {
    return open(dek, sealed.secret, secretAad(b), 'secret');
  } finally {
    dek.fill(0);
  }
}

/** Moves a wrapped data key to the active master key. The secret itself is not touched. */
export function rewrapDataKey(
  keyring: Keyring,
  b: Binding,
  wrappedKey: string,
  masterKeyId: string,
): { wrappedKey: string; masterKeyId: string } {
  const dek = unwrapDataKey(keyring, b, wrappedKey, masterKeyId);
  try {
    return {
      wrappedKey: seal(masterKey(keyring, keyring.activeId), dek, dekAad(b, keyring.activeId)),
      masterKeyId: keyring.activeId,
    };
  } finally {
    dek.fill(0);
  }
}

/**
 * A value that identifies a master key without revealing it (HMAC of a constant), stored once
 * per key id so that starting with a different key under the same id fails loudly.
 */
export function masterKeyCheckValue(key: Buffer, keyId: string): string {
  return createHmac('sha256', key).update(`keyplane:master-key-check:v1\n${keyId}`).digest('hex');
}
