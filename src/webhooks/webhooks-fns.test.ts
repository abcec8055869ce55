import { describe, expect, it } from 'vitest';
import {
  checkEndpointUrl,
  isPrivateAddress,
  nextAttemptDelay,
  openSecret,
  RETRY_SCHEDULE_MS,
  sealSecret,
  signPayload,
  webhookHeaders,
  newSigningSecret,
  wants,
} from './webhooks-fns.ts';

describe('webhook signatures', () => {
  it('match the Standard Webhooks reference vector', () => {
    // From the Standard Webhooks / Svix libraries' own test suites.
    const sig = signPayload(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).toBe('g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('carry one v1 signature per secret during a roll', () => {
    const a = newSigningSecret();
    const b = newSigningSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const h = webhookHeaders([a, b], 'msg_1', 1700000000, '{}');
    expect(h['webhook-id']).toBe('msg_1');
    expect(h['webhook-timestamp']).toBe('1700000000');
    expect(h['webhook-signature']).toBe(
      `v1,${signPayload(a, 'msg_1', 1700000000, '{}')} v1,${signPayload(b, 'msg_1', 1700000000, '{}')}`,
    );
  });
});

describe('retry schedule', () => {
  it('gives 8 attempts over about a day, the first immediate, with at most 20% jitter', () => {
    expect(RETRY_SCHEDULE_MS).toHaveLength(8);
    const total = RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(24 * 3600_000);
    expect(total).toBeLessThan(30 * 3600_000);
    expect(nextAttemptDelay(1, () => 0)).toBe(5_000);
    expect(nextAttemptDelay(1, () => 0.999)).toBeLessThanOrEqual(6_000);
    expect(nextAttemptDelay(7, () => 0.5)).toBe(11 * 3600_000);
    expect(nextAttemptDelay(8)).toBeNull();
  });
});

describe('SSRF guards', () => {
  it('classifies private, loopback, link-local and mapped addresses', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
      '100.64.0.1',
    ])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111'])
      expect(isPrivateAddress(a), a).toBe(false);
  });

  it('requires https and a public host in production, allows http and loopback in development', () => {
    expect(checkEndpointUrl('https://hooks.example.com/x', false)).toBe(
      'https://hooks.example.com/x',
    );
    expect(() => checkEndpointUrl('http://hooks.example.com/x', false)).toThrow(/https/);
    expect(() => checkEndpointUrl('https://127.0.0.1/x', false)).toThrow(/private/);
    expect(() => checkEndpointUrl('https://[::1]/x', false)).toThrow(/private/);
    expect(() => checkEndpointUrl('https://localhost/x', false)).toThrow(/private/);
    expect(() => checkEndpointUrl('https://u:p@hooks.example.com/', false)).toThrow(/credentials/);
    expect(() => checkEndpointUrl('ftp://x', true)).toThrow();
    expect(checkEndpointUrl('http://127.0.0.1:9/x', true)).toBe('http://127.0.0.1:9/x');
  });
});

describe('sealed secrets', () => {
  const keyring = {
    activeId: 'k1',
    keys: new Map([['k1', Buffer.alloc(32, 3)]]),
    source: 'env' as const,
  };
  it('open only for the endpoint they were sealed for', () => {
    const s = newSigningSecret();
    const sealed = sealSecret(keyring, 'ep_1', s);
    expect(sealed).not.toContain(s.slice(6));
    expect(openSecret(keyring, 'ep_1', sealed)).toBe(s);
    expect(() => openSecret(keyring, 'ep_2', sealed)).toThrow();
  });
});

it('wants: an empty filter takes every type', () => {
  expect(wants([], 'key.created')).toBe(true);
  expect(wants(['invoice.paid'], 'key.created')).toBe(false);
});
