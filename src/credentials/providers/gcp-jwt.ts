import { sign } from 'node:crypto';

/**
 * A service-account JWT (RS256) for Google's OAuth token endpoint: the "JWT bearer" grant of
 * RFC 7523, signed with the account's private key.
 */
export function serviceAccountAssertion(input: {
  clientEmail: string;
  privateKey: string;
  privateKeyId?: string;
  audience: string;
  scope: string;
  now: Date;
}): string {
  const iat = Math.floor(input.now.getTime() / 1000);
  const header = {
    alg: 'RS256',
    typ: 'JWT',
    ...(input.privateKeyId && { kid: input.privateKeyId }),
  };
  const claims = {
    iss: input.clientEmail,
    sub: input.clientEmail,
    scope: input.scope,
    aud: input.audience,
    iat,
    exp: iat + 3600,
  };
  const encode = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const signingInput = `${encode(header)}.${encode(claims)}`;
  const signature = sign('sha256', Buffer.from(signingInput), input.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}
