import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Keyring } from '../infra/master-key.ts';
import { AppError } from '../lib/errors.ts';

/**
 * A signing secret: `whsec_` then base64 of 24 random bytes, as Standard Webhooks and Svix
 * write them; receivers' verifier libraries base64-decode what follows the prefix.
 */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/**
 * Standard Webhooks v1: base64 HMAC-SHA256, keyed with the decoded secret, over
 * `${id}.${timestamp}.${body}` where timestamp is whole seconds since the epoch.
 */
export function signPayload(secret: string, id: string, timestampS: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64');
}

/** The three headers of one send; several secrets (during a roll's grace) give several `v1,`. */
export function webhookHeaders(
  secrets: string[],
  id: string,
  timestampS: number,
  body: string,
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampS),
    'webhook-signature': secrets.map((s) => `v1,${signPayload(s, id, timestampS, body)}`).join(' '),
  };
}

/**
 * The published retry schedule (Svix's): the delay before each attempt, the first immediate.
 * Eight attempts over about 27 hours; after the last failure the delivery is `failed`.
 */
export const RETRY_SCHEDULE_MS = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3600_000,
  5 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
] as const;

/** An endpoint that has failed without a single success for this long is disabled. */
export const DISABLE_AFTER_MS = 5 * 24 * 3600_000;

/**
 * When to try again after `attempts` failed tries, or null when the schedule is spent. Jitter
 * adds up to 20% so that endpoints that failed together do not all retry in the same second.
 */
export function nextAttemptDelay(
  attempts: number,
  random: () => number = Math.random,
): number | null {
  const base = RETRY_SCHEDULE_MS[attempts];
  if (base === undefined) return null;
  return Math.round(base * (1 + 0.2 * random()));
}

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

/** Loopback, private, link-local, CGNAT, multicast or reserved: never a production endpoint. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const addr = mapped ? mapped[1]! : address;
  const v = isIP(addr);
  if (!v) return true;
  return PRIVATE.check(addr, v === 4 ? 'ipv4' : 'ipv6');
}

/**
 * An endpoint URL as registered: https (http only in development mode), no credentials in it,
 * and in production no literal private address (names are checked again when resolved).
 */
export function checkEndpointUrl(raw: string, allowPrivate: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('validation_failed', 'url is not a valid URL');
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:'))
    throw new AppError('validation_failed', 'url must use https (http only in development mode)');
  if (url.username || url.password)
    throw new AppError('validation_failed', 'url must not carry credentials');
  if (raw.length > 2000) throw new AppError('validation_failed', 'url is longer than 2000');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (
    !allowPrivate &&
    (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) && isPrivateAddress(host)))
  )
    throw new AppError('validation_failed', 'url must not point to a private or loopback address');
  return url.toString();
}

/** Seals a signing secret with the active master key (AES-256-GCM): `keyId.iv.data.tag`. */
export function sealSecret(keyring: Keyring, endpointId: string, secret: string): string {
  const key = keyring.keys.get(keyring.activeId)!;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`webhook:${endpointId}`));
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return [keyring.activeId, iv, data, cipher.getAuthTag()]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

export function openSecret(keyring: Keyring, endpointId: string, sealed: string): string {
  const [keyId, iv, data, tag] = sealed.split('.');
  const key = keyring.keys.get(keyId ?? '');
  if (!key || !iv || !data || !tag) throw new Error('webhook secret: unknown master key');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(`webhook:${endpointId}`));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([
    decipher.update(Buffer.from(data, 'base64url')),
    decipher.final(),
  ]).toString('utf8');
}

/** Whether an endpoint subscribed to `type` (`[]` = every type). */
export function wants(eventTypes: string[], type: string): boolean {
  return eventTypes.length === 0 || eventTypes.includes(type);
}
