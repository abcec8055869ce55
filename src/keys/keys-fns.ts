import { BlockList, isIP } from 'node:net';
import { AppError } from '../lib/errors.ts';

/** Normalizes `::ffff:1.2.3.4` to `1.2.3.4` so IPv4 allowlists match dual-stack sockets. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address into canonical CIDR text; throws on junk. */
export function parseCidr(text: string): {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  cidr: string;
} {
  const [addrRaw, prefixRaw, ...rest] = text.trim().split('/');
  const address = normalizeIp(addrRaw ?? '');
  const version = isIP(address);
  if (!version || rest.length)
    throw new AppError('validation_failed', `invalid IP or CIDR "${text}"`);
  const max = version === 4 ? 32 : 128;
  const prefix = prefixRaw === undefined ? max : Number(prefixRaw);
  if (!/^\d+$/.test(prefixRaw ?? String(max)) || prefix < 0 || prefix > max) {
    throw new AppError('validation_failed', `invalid prefix length in "${text}"`);
  }
  const family = version === 4 ? 'ipv4' : 'ipv6';
  return { address, prefix, family, cidr: `${address}/${prefix}` };
}

/** A compiled allowlist; null when the list is empty (any address). */
export function compileAllowlist(cidrs: string[]): BlockList | null {
  if (!cidrs.length) return null;
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidr(c);
    list.addSubnet(p.address, p.prefix, p.family);
  }
  return list;
}

export function ipAllowed(list: BlockList | null, ip: string | undefined): boolean {
  if (!list) return true;
  if (!ip) return false;
  const addr = normalizeIp(ip);
  const v = isIP(addr);
  if (!v) return false;
  return list.check(addr, v === 4 ? 'ipv4' : 'ipv6');
}

/** `*` grants every scope. */
export function hasScopes(granted: string[], required: string[] | undefined): boolean {
  if (!required?.length) return true;
  if (granted.includes('*')) return true;
  return required.every((s) => granted.includes(s));
}

/** Start of the current refill period (UTC day or month), as ISO text. */
export function refillPeriodStart(interval: 'daily' | 'monthly', now: Date): string {
  const d =
    interval === 'daily'
      ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
      : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return d.toISOString();
}

/** Start of the next refill period (UTC day or month), in epoch ms. */
export function nextRefillAt(interval: 'daily' | 'monthly', now: Date): number {
  return interval === 'daily'
    ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)
    : Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
}

const SCOPE = /^[a-z0-9*][a-z0-9_.:*-]{0,63}$/i;

export function validateScopes(scopes: string[]): string[] {
  const bad = scopes.filter((s) => !SCOPE.test(s));
  if (bad.length) throw new AppError('validation_failed', `invalid scope(s): ${bad.join(', ')}`);
  return [...new Set(scopes)];
}

/**
 * A small bounded LRU on Map insertion order: set() evicts the oldest when full. get() moves an
 * entry to the end only once it has aged by a quarter of the capacity (in sets and moves since
 * it last moved): a hot entry then costs one lookup instead of a delete and a re-insert on every
 * hit (the verification cache is read on every request), and eviction stays close to LRU.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, { value: V; at: number }>();
  private tick = 0;
  private readonly refreshAfter: number;
  /** `onEvict` hears of each entry pushed out by capacity (not of delete or clear). */
  constructor(
    private readonly max: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    this.refreshAfter = max >> 2;
  }
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (this.tick - e.at > this.refreshAfter) {
      this.map.delete(key);
      e.at = ++this.tick;
      this.map.set(key, e);
    }
    return e.value;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, { value, at: ++this.tick });
    if (this.map.size > this.max) {
      const [oldest, e] = this.map.entries().next().value as [K, { value: V }];
      this.map.delete(oldest);
      this.onEvict?.(oldest, e.value);
    }
  }
  delete(key: K): boolean {
    return this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
  get size(): number {
    return this.map.size;
  }
  *values(): IterableIterator<V> {
    for (const e of this.map.values()) yield e.value;
  }
}

/** What a key may hand on to a key it creates or rolls (self-service). */
export interface KeyPowers {
  scopes: string[];
  ipAllowlist: string[];
  expiresAt: string | null;
  rateLimit: { limit: number; windowSeconds: number } | null;
  /** true when the key spends credits */
  limitedCredits: boolean;
}

function cidrWithin(child: string, parents: string[]): boolean {
  const c = parseCidr(child);
  return parents.some((p) => {
    const q = parseCidr(p);
    if (q.family !== c.family || c.prefix < q.prefix) return false;
    const list = new BlockList();
    list.addSubnet(q.address, q.prefix, q.family);
    return list.check(c.address, c.family);
  });
}

/**
 * Self-service keys never get more power than the key that makes them: the reasons a `child`
 * would exceed its `parent`, empty when it does not. Scopes must be a subset, a rate limit no
 * looser, an expiry no later, an allowlist inside the parent's; a key that spends credits may
 * not mint or roll keys at all (a new key would not share its credits).
 */
export function excessPowers(parent: KeyPowers, child: KeyPowers): string[] {
  const out: string[] = [];
  if (!parent.scopes.includes('*')) {
    const beyond = child.scopes.filter((s) => !parent.scopes.includes(s));
    if (beyond.length) out.push(`scopes this key does not hold: ${beyond.join(', ')}`);
  }
  if (parent.rateLimit) {
    const c = child.rateLimit;
    if (
      !c ||
      c.limit > parent.rateLimit.limit ||
      c.windowSeconds < parent.rateLimit.windowSeconds
    ) {
      out.push('a rate limit looser than this key’s');
    }
  }
  if (parent.expiresAt && (!child.expiresAt || child.expiresAt > parent.expiresAt)) {
    out.push('an expiry later than this key’s');
  }
  if (parent.ipAllowlist.length) {
    if (
      !child.ipAllowlist.length ||
      !child.ipAllowlist.every((c) => cidrWithin(c, parent.ipAllowlist))
    ) {
      out.push('addresses outside this key’s IP allowlist');
    }
  }
  if (parent.limitedCredits) out.push('keys, since this key spends credits');
  return out;
}
