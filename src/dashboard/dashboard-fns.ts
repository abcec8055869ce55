import { hash, randomBytes } from 'node:crypto';

/**
 * Every value of cookie `name` in a Cookie header, in order (RFC 6265 §5.4: `name=value` pairs
 * separated by `;`). A name given twice yields two values; the caller decides what that means
 * (a session cookie sent twice is refused). Quoted values lose their quotes; nothing is decoded.
 */
export function cookieValues(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join('; ') : header;
  const out: string[] = [];
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1);
    out.push(value);
  }
  return out;
}

/** A session cookie value: 32 random bytes, base64url (43 characters). */
export function newSessionSecret(): string {
  return randomBytes(32).toString('base64url');
}

const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** A cheap shape check, so garbage never reaches storage. */
export function isSessionSecret(value: string): boolean {
  return SECRET_SHAPE.test(value);
}

/** What is stored instead of the cookie value. */
export function hashSessionSecret(value: string): string {
  return hash('sha256', value, 'hex');
}

/** The Set-Cookie value that opens a session (`Secure` when the request came over https). */
export function sessionCookie(
  name: string,
  value: string,
  opts: { maxAgeSeconds: number; secure: boolean },
): string {
  const secure = opts.secure ? '; Secure' : '';
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${opts.maxAgeSeconds}${secure}`;
}

/** The Set-Cookie value that clears the session cookie in the browser. */
export function clearedCookie(name: string, opts: { secure: boolean }): string {
  return sessionCookie(name, '', { maxAgeSeconds: 0, secure: opts.secure });
}

/** Whether a session expiring at `expiresAt` (ISO) is over at `nowMs`. */
export function isExpired(expiresAt: string, nowMs: number): boolean {
  return Date.parse(expiresAt) <= nowMs;
}
