import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  randomBytes,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { parseKey } from '../lib/key-format.ts';

/** SHA-256 hex: a reported token's hash (the partner's `token_hash`, the key's at-rest hash). */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Compares two secrets in constant time (different lengths are unequal, without a leak of which). */
export function secretEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/**
 * GitHub's public keys document, `{"public_keys": [{key_identifier, key, is_current}]}`, as
 * key objects by identifier. Entries that are not a PEM public key are skipped, not fatal.
 */
export function parseGithubPublicKeys(doc: unknown): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const list = (doc as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(list)) return out;
  for (const entry of list as Array<Record<string, unknown>>) {
    const id = entry?.key_identifier;
    const pem = entry?.key;
    if (typeof id !== 'string' || typeof pem !== 'string' || !id) continue;
    try {
      out.set(id, createPublicKey(pem));
    } catch {
      /* not a key: ignore it, as a partner document may carry other kinds */
    }
  }
  return out;
}

/**
 * Checks a GitHub secret scanning signature: ECDSA P-256 with SHA-256 over the raw body bytes,
 * base64 of the DER signature. Never throws, whatever the input.
 */
export function verifyGithubSignature(
  rawBody: Buffer,
  signatureBase64: string,
  key: KeyObject,
): boolean {
  if (!/^[A-Za-z0-9+/=\s]{8,400}$/.test(signatureBase64)) return false;
  try {
    const sig = Buffer.from(signatureBase64, 'base64');
    return verify('sha256', rawBody, { key, dsaEncoding: 'der' }, sig);
  } catch {
    return false;
  }
}

export interface FoundKey {
  line: number;
  column: number;
  /** prefix, environment and the first 4 secret characters: what may be printed. */
  start: string;
  environment: 'live' | 'test';
  /** The whole key: for --check (hashed) only, never printed. */
  key: string;
}

/**
 * Keys in a text: the key-format pattern finds candidates, the checksum decides (a string of
 * the right shape whose checksum fails is not a key). Lines and columns count from 1.
 */
export function findKeys(text: string, pattern: RegExp): FoundKey[] {
  const found: FoundKey[] = [];
  const re = new RegExp(pattern.source, 'g');
  let line = 1;
  let lineStart = 0;
  let counted = 0; // newlines before this offset are counted in `line`
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const parsed = parseKey(m[0]);
    if (!parsed) continue;
    for (let nl = text.indexOf('\n', counted); nl !== -1 && nl < m.index;) {
      line++;
      lineStart = nl + 1;
      nl = text.indexOf('\n', lineStart);
    }
    counted = m.index;
    found.push({
      line,
      column: m.index - lineStart + 1,
      start: parsed.start,
      environment: parsed.environment,
      key: m[0],
    });
  }
  return found;
}

const SEAL_VERSION = 'v1';

function sealAad(clientId: string, keyId: string, masterKeyId: string): Buffer {
  return Buffer.from(`keyplane:leak-rolled-key:v1\n${clientId}\n${keyId}\n${masterKeyId}`);
}

/**
 * Seals a rolled key's replacement under a master key (AES-256-GCM), bound to its client, key
 * and master key ids: a sealed value moved to another row fails to open.
 */
export function sealKey(
  plaintext: string,
  masterKey: Buffer,
  ids: { clientId: string; keyId: string; masterKeyId: string },
): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(sealAad(ids.clientId, ids.keyId, ids.masterKeyId));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [SEAL_VERSION, iv, cipher.getAuthTag(), ct]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

/** Opens sealKey's value; throws when it was moved, edited or sealed under another key. */
export function openSealedKey(
  sealed: string,
  masterKey: Buffer,
  ids: { clientId: string; keyId: string; masterKeyId: string },
): string {
  const [version, iv, tag, ct] = sealed.split('.');
  if (version !== SEAL_VERSION || !iv || !tag || ct === undefined) {
    throw new Error('sealed key is not in a format this version can open');
  }
  const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64url'));
  decipher.setAAD(sealAad(ids.clientId, ids.keyId, ids.masterKeyId));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
    'utf8',
  );
}

const ACTION_TEXT = {
  revoked: 'It has been revoked: calls with it are refused from now on.',
  rolled:
    'It has been rolled: the old key is refused from now on, and its replacement is shown once in your client portal.',
  notified: 'It still works (your leak policy is "notify"): replace it and revoke it yourself.',
} as const;

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** The email about an exposed key: its start and id, where it was seen, what was done. Never the key. */
export function exposureEmail(input: {
  to: string;
  clientName: string;
  keyId: string;
  keyStart: string;
  source: string;
  url: string | null;
  action: keyof typeof ACTION_TEXT;
}): { to: string; subject: string; text: string; html: string } {
  const where = input.url ? `${input.source} (${input.url})` : input.source;
  const lines = [
    `An API key of ${input.clientName} was found exposed in public.`,
    '',
    `Key:      ${input.keyStart}… (${input.keyId})`,
    `Found by: ${where}`,
    '',
    ACTION_TEXT[input.action],
  ];
  return {
    to: input.to,
    subject: `Keyplane: API key ${input.keyStart}… exposed (${input.action})`,
    text: lines.join('\n'),
    html: `<p>${lines.filter(Boolean).map(escapeHtml).join('</p>\n<p>')}</p>`,
  };
}

/** The order of P-256's group: an ECDSA signature (r, s) also verifies as (r, n - s). */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

function derInteger(der: Buffer, at: number): { value: bigint; next: number } | null {
  if (der[at] !== 0x02) return null;
  const len = der[at + 1]!;
  if (len < 1 || len > 33 || at + 2 + len > der.length) return null;
  const bytes = der.subarray(at + 2, at + 2 + len);
  return { value: BigInt('0x' + (bytes.toString('hex') || '0')), next: at + 2 + len };
}

/**
 * A DER ECDSA P-256 signature in one canonical form, r ‖ low-s as 64 bytes, or null when it is
 * not DER. Replay protection keys on this: flipping s (a second valid signature of the same
 * body, no key needed) must not get a replay past the check.
 */
export function canonicalSignature(der: Buffer): Buffer | null {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return null;
  const r = derInteger(der, 2);
  const s = r && derInteger(der, r.next);
  if (!r || !s || s.next !== der.length) return null;
  const low = s.value > P256_N / 2n ? P256_N - s.value : s.value;
  const hex = (n: bigint) => n.toString(16).padStart(64, '0');
  return Buffer.from(hex(r.value) + hex(low), 'hex');
}
