import { describe, expect, it } from 'vitest';
import { createKeyInput, keyText, revokeKeyInput, rollKeyInput } from './keys-input.ts';

/** The first problem's message, or null when the schema takes the value. */
function refusal(
  schema: { safeParse(v: unknown): { success: boolean; error?: unknown } },
  value: unknown,
) {
  const r = schema.safeParse(value) as
    { success: true } | { success: false; error: { issues: Array<{ message: string }> } };
  return r.success ? null : r.error.issues[0]!.message;
}

describe('key inputs', () => {
  it('takes a full create input as it is', () => {
    const input = {
      name: 'ci',
      environment: 'test',
      scopes: ['usage:read', '*'],
      ipAllowlist: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.1'],
      expiresInSeconds: 60,
      rateLimit: { limit: 100, windowSeconds: 60 },
      credits: 0,
      refill: { interval: 'monthly', amount: 1000 },
      meta: { team: 'a' },
    };
    expect(createKeyInput.parse(input)).toEqual(input);
    expect(createKeyInput.parse({})).toEqual({});
  });

  it('refuses what the service used to refuse by hand, with the same messages', () => {
    expect(refusal(createKeyInput, { ipAllowlist: ['300.1.1.1'] })).toBe(
      'invalid IP or CIDR "300.1.1.1"',
    );
    expect(refusal(createKeyInput, { ipAllowlist: ['10.0.0.0/33'] })).toBe(
      'invalid prefix length in "10.0.0.0/33"',
    );
    expect(refusal(createKeyInput, { scopes: ['ok', 'bad scope'] })).toBe(
      'invalid scope(s): bad scope',
    );
    expect(refusal(createKeyInput, { refill: { interval: 'daily', amount: 1 } })).toBe(
      'refill needs credits',
    );
    expect(refusal(createKeyInput, { expiresAt: 'next tuesday' })).toBe(
      'expiresAt must be an ISO-8601 time',
    );
    expect(
      refusal(createKeyInput, { expiresAt: '2030-01-01T00:00:00Z', expiresInSeconds: 60 }),
    ).toBe('give expiresAt or expiresInSeconds, not both');
    expect(refusal(createKeyInput, { meta: { blob: 'x'.repeat(5000) } })).toBe(
      'meta must be at most 4096 bytes of JSON',
    );
  });

  it('refuses wrong shapes and out-of-range numbers', () => {
    for (const bad of [
      { name: 'x'.repeat(201) },
      { environment: 'prod' },
      { expiresInSeconds: 0 },
      { expiresInSeconds: 1.5 },
      { rateLimit: { limit: 0, windowSeconds: 60 } },
      { rateLimit: { limit: 10, windowSeconds: 0 } },
      { credits: -1 },
      { credits: 1.5 },
      { credits: 1, refill: { interval: 'daily', amount: 0 } },
      { credits: 1, refill: { interval: 'weekly', amount: 1 } },
      { unknown: true },
    ]) {
      expect(refusal(createKeyInput, bad), JSON.stringify(bad)).not.toBeNull();
    }
    expect(refusal(rollKeyInput, { gracePeriodSeconds: -1 })).not.toBeNull();
    expect(refusal(rollKeyInput, { gracePeriodSeconds: 0 })).toBeNull();
    expect(refusal(revokeKeyInput, { reason: 'x'.repeat(501) })).not.toBeNull();
  });

  it('parses the operator’s text forms, naming the field in a refusal', () => {
    expect(keyText.seconds('--expires-in').parse('90d')).toBe(90 * 86_400);
    expect(keyText.seconds('--grace').parse('0')).toBe(0);
    expect(refusal(keyText.seconds('--grace'), 'soon')).toMatch(/^--grace: invalid duration/);
    expect(keyText.rateLimit('--rate-limit').parse('100/60s')).toEqual({
      limit: 100,
      windowSeconds: 60,
    });
    expect(keyText.rateLimit('--rate-limit').parse('10/s')).toEqual({
      limit: 10,
      windowSeconds: 1,
    });
    expect(keyText.rateLimit('--rate-limit').parse('1000/1h')).toEqual({
      limit: 1000,
      windowSeconds: 3600,
    });
    expect(refusal(keyText.rateLimit('--rate-limit'), '100')).toBe(
      '--rate-limit must look like 100/60s (got "100")',
    );
    expect(refusal(keyText.rateLimit('--rate-limit'), '0/60s')).toBe(
      '--rate-limit needs a limit ≥ 1 and a window ≥ 1s',
    );
    expect(keyText.refill('--refill').parse('monthly:1000')).toEqual({
      interval: 'monthly',
      amount: 1000,
    });
    expect(refusal(keyText.refill('--refill'), 'weekly:5')).toBe(
      '--refill must be daily:N or monthly:N',
    );
    expect(keyText.count('--credits').parse('2')).toBe(2);
    expect(refusal(keyText.count('--credits'), '1.5')).toBe('--credits must be a whole number ≥ 0');
    expect(refusal(keyText.environment('--env'), 'prod')).toBe('--env must be live or test');
    expect(keyText.list.parse(' a, b,,c ')).toEqual(['a', 'b', 'c']);
  });
});
