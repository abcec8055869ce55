import { createHmac, timingSafeEqual } from 'node:crypto';

/** Why a webhook was refused: its signature, its age, or a missing header. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** Signatures older or newer than this are refused (replay protection). */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

type HeaderBag = Record<string, string | string[] | undefined> | Headers;

function header(headers: HeaderBag, name: string): string {
  const v =
    typeof (headers as Headers).get === 'function'
      ? (headers as Headers).get(name)
      : (headers as Record<string, string | string[] | undefined>)[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (!one) throw new WebhookVerificationError(`missing ${name} header`);
  return one;
}

/**
 * Verifies a Keyplane webhook (the Standard Webhooks scheme) and returns its parsed payload.
 * Pass the raw body exactly as received, the request headers, and the endpoint's `whsec_…`
 * secret. Throws WebhookVerificationError when no `v1,` signature matches or the timestamp is
 * more than 5 minutes away from now. Deduplicate on `webhook-id`: a retry or replay keeps it.
 *
 * @example
 *   import { verifyWebhook } from '@keyplane/sdk';
 *
 *   app.post('/hooks/keyplane', express.raw({ type: 'application/json' }), (req, res) => {
 *     const event = verifyWebhook(req.body, req.headers, process.env.KEYPLANE_WEBHOOK_SECRET!);
 *     if (event.type === 'key.revoked') console.log('revoked', event.data.key);
 *     res.sendStatus(204);
 *   });
 */
export function verifyWebhook<T = WebhookEvent>(
  payload: string | Buffer | Uint8Array,
  headers: HeaderBag,
  secret: string,
  options: { now?: Date; toleranceSeconds?: number } = {},
): T {
  const body = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  const ts = Number(timestamp);
  const nowS = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  if (!/^\d+$/.test(timestamp) || Math.abs(nowS - ts) > tolerance)
    throw new WebhookVerificationError('webhook timestamp is outside the tolerance');
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  const ok = signatures.split(' ').some((entry) => {
    const [version, sig] = entry.split(',', 2);
    if (version !== 'v1' || !sig) return false;
    const got = Buffer.from(sig, 'base64');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!ok) throw new WebhookVerificationError('no webhook signature matches the secret');
  return JSON.parse(body) as T;
}

/** Every Keyplane webhook body: `{type, version, timestamp, data}`. */
export interface WebhookEvent {
  type: string;
  version: number;
  timestamp: string;
  data: Record<string, unknown>;
}
