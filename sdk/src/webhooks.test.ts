import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from './webhooks.ts';

// The Standard Webhooks reference vector, signed here by hand (no server code).
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const ts = 1614265330;
const body = '{"test": 2432232314}';
const good = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const at = new Date(ts * 1000);
const headers = (sig: string, t = ts) => ({
  'webhook-id': id,
  'webhook-timestamp': String(t),
  'webhook-signature': sig,
});

describe('verifyWebhook', () => {
  it('accepts the reference signature, alone or among others, from a plain object or Headers', () => {
    expect(verifyWebhook(body, headers(good), secret, { now: at })).toEqual({ test: 2432232314 });
    expect(
      verifyWebhook(Buffer.from(body), headers(`v1,AAAA ${good}`), secret, { now: at }),
    ).toEqual({
      test: 2432232314,
    });
    expect(verifyWebhook(body, new Headers(headers(good)), secret, { now: at })).toBeTruthy();
  });

  it('refuses a wrong signature, a changed body, a stale or future timestamp, a missing header', () => {
    const fails = (f: () => unknown) => expect(f).toThrow(WebhookVerificationError);
    fails(() => verifyWebhook(body, headers('v1,AAAA'), secret, { now: at }));
    fails(() => verifyWebhook(body + ' ', headers(good), secret, { now: at }));
    fails(() =>
      verifyWebhook(body, headers(good), 'whsec_' + Buffer.alloc(24).toString('base64'), {
        now: at,
      }),
    );
    fails(() => verifyWebhook(body, headers(good), secret, { now: new Date((ts + 301) * 1000) }));
    fails(() => verifyWebhook(body, headers(good), secret, { now: new Date((ts - 301) * 1000) }));
    fails(() => verifyWebhook(body, { 'webhook-id': id }, secret, { now: at }));
    // Within 5 minutes it still passes.
    expect(
      verifyWebhook(body, headers(good), secret, { now: new Date((ts + 299) * 1000) }),
    ).toBeTruthy();
    const v2 = createHmac('sha256', 'x').update('y').digest('base64');
    fails(() => verifyWebhook(body, headers(`v2,${v2}`), secret, { now: at }));
  });
});
