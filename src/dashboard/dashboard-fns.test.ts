import { describe, expect, it } from 'vitest';
import {
  clearedCookie,
  cookieValues,
  hashSessionSecret,
  isExpired,
  isSessionSecret,
  newSessionSecret,
  sessionCookie,
} from './dashboard-fns.ts';

describe('cookieValues', () => {
  it('finds a cookie among others, with or without spaces', () => {
    expect(cookieValues('a=1; kp_session=abc; b=2', 'kp_session')).toEqual(['abc']);
    expect(cookieValues('kp_session=abc;b=2', 'kp_session')).toEqual(['abc']);
    expect(cookieValues('  kp_session = abc  ', 'kp_session')).toEqual(['abc']);
  });

  it('answers nothing when the header or the cookie is absent', () => {
    expect(cookieValues(undefined, 'kp_session')).toEqual([]);
    expect(cookieValues('', 'kp_session')).toEqual([]);
    expect(cookieValues('other=1; kp_sessionx=2; xkp_session=3', 'kp_session')).toEqual([]);
    expect(cookieValues('kp_session', 'kp_session')).toEqual([]);
  });

  it('answers every value of a repeated cookie, in order', () => {
    expect(cookieValues('kp_session=a; kp_session=b', 'kp_session')).toEqual(['a', 'b']);
    expect(cookieValues(['kp_session=a', 'kp_session=b'], 'kp_session')).toEqual(['a', 'b']);
  });

  it('keeps `=` inside a value and drops surrounding quotes', () => {
    expect(cookieValues('kp_session=a=b==', 'kp_session')).toEqual(['a=b==']);
    expect(cookieValues('kp_session="abc"', 'kp_session')).toEqual(['abc']);
    expect(cookieValues('kp_session=', 'kp_session')).toEqual(['']);
  });
});

describe('session secrets', () => {
  it('are 43 base64url characters, different each time', () => {
    const a = newSessionSecret();
    const b = newSessionSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(isSessionSecret(a)).toBe(true);
  });

  it('refuses anything else before it reaches storage', () => {
    for (const bad of [
      '',
      'x'.repeat(42),
      'x'.repeat(44),
      `${'x'.repeat(42)}=`,
      `${'é'.repeat(43)}`,
      `${'x'.repeat(42)}\0`,
    ]) {
      expect(isSessionSecret(bad)).toBe(false);
    }
  });

  it('are stored as their SHA-256', () => {
    expect(hashSessionSecret('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('Set-Cookie values', () => {
  it('open a session with exactly the contract flags', () => {
    expect(sessionCookie('kp_session', 'v', { maxAgeSeconds: 43200, secure: false })).toBe(
      'kp_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200',
    );
    expect(sessionCookie('kp_session', 'v', { maxAgeSeconds: 43200, secure: true })).toBe(
      'kp_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure',
    );
  });

  it('clear it with Max-Age=0', () => {
    expect(clearedCookie('kp_session', { secure: false })).toBe(
      'kp_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
    );
  });
});

describe('isExpired', () => {
  it('is over at the expiry instant, not before', () => {
    const at = '2026-01-01T12:00:00.000Z';
    expect(isExpired(at, Date.parse(at) - 1)).toBe(false);
    expect(isExpired(at, Date.parse(at))).toBe(true);
  });
});
