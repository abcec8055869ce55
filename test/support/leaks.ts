import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/** A locally generated GitHub-style signing key: ECDSA P-256, public half as PEM. */
export function partnerKey(id = 'test-key-1') {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    id,
    privateKey,
    pem,
    /** As `leaks.github.publicKeys` takes it. */
    config: { keyIdentifier: id, key: pem },
    /** As GitHub's public keys document lists it. */
    document: { key_identifier: id, key: pem, is_current: true },
  };
}

/** base64 DER ECDSA SHA-256 signature of the raw body, as GitHub sends it. */
export function signBody(body: string | Buffer, key: KeyObject): string {
  return sign('sha256', Buffer.from(body), { key, dsaEncoding: 'der' }).toString('base64');
}

/** A signed GitHub report's request, for app.inject or undici. */
export function githubRequest(
  items: Array<{ token: string; type?: string; url?: string; source?: string }>,
  key: { id: string; privateKey: KeyObject },
) {
  const payload = JSON.stringify(items);
  return {
    method: 'POST' as const,
    url: '/v1/leaks/github',
    payload,
    headers: {
      'content-type': 'application/json',
      'github-public-key-identifier': key.id,
      'github-public-key-signature': signBody(payload, key.privateKey),
    },
  };
}
