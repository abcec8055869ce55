import type { IncomingHttpHeaders } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { Provider, SecretFields } from '../credentials/index.ts';

/**
 * Pure pieces of the upstream proxy (SPEC §3 `ANY /v1/proxy/{provider}/{path}`): how each
 * provider takes its key, which path may be forwarded, which headers cross in each direction,
 * and the stream filter that keeps an injected secret out of the answer.
 */

/** How a provider's API key travels: one header, optionally with a value prefix, plus defaults. */
export interface Injection {
  header: string;
  /** Put before the key, e.g. `Bearer `. */
  prefix: string;
  /** Headers the provider requires, sent when the client did not send them. */
  defaults: Record<string, string>;
}

const bearer = (): Injection => ({ header: 'authorization', prefix: 'Bearer ', defaults: {} });
const plain = (header: string, defaults: Record<string, string> = {}): Injection => ({
  header,
  prefix: '',
  defaults,
});

/**
 * Providers whose key is one header. aws (SigV4 over the exact body), gcp (JWT → token
 * exchange), azure (client-credentials grant) and generic (no known auth) are not proxied.
 */
export const INJECTIONS: Partial<Record<Provider, Injection>> = {
  gemini: plain('x-goog-api-key'),
  openai: bearer(),
  anthropic: plain('x-api-key', { 'anthropic-version': '2023-06-01' }),
  exa: plain('x-api-key'),
  vultr: bearer(),
  copilotkit: plain('x-copilotcloud-public-api-key'),
};

/**
 * The injection for a provider, with config `providers.<name>.authHeader` taking precedence:
 * `"x-goog-api-key"` (the key as the value) or `"Authorization: Bearer"` (name: value prefix).
 * null: the provider cannot be proxied.
 */
export function injectionFor(provider: Provider, authHeader?: string): Injection | null {
  const known = INJECTIONS[provider];
  if (!known) return null;
  if (!authHeader) return known;
  const colon = authHeader.indexOf(':');
  const header = (colon < 0 ? authHeader : authHeader.slice(0, colon)).trim().toLowerCase();
  const scheme = colon < 0 ? '' : authHeader.slice(colon + 1).trim();
  return { header, prefix: scheme ? `${scheme} ` : '', defaults: known.defaults };
}

/** An HTTP field name (RFC 9110 token), lowercase. */
export function isHeaderName(name: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name);
}

/** `POST /v1/proxy/gemini/*`: the endpoint a proxied call is metered and priced as. */
export function proxyEndpoint(method: string, provider: string): string {
  return `${method.toUpperCase()} /v1/proxy/${provider}/*`;
}

/**
 * Splits a raw request URL (`/v1/proxy/gemini/v1beta/models?pageSize=1`) into the provider
 * segment, the raw (still percent-encoded) upstream path and the raw query (`?…` or '').
 */
export function splitProxyUrl(
  rawUrl: string,
  mount = '/v1/proxy/',
): { provider: string; path: string; query: string } | null {
  const q = rawUrl.indexOf('?');
  const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q);
  if (!pathname.startsWith(mount)) return null;
  const rest = pathname.slice(mount.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  return { provider: rest.slice(0, slash), path: rest.slice(slash + 1), query };
}

/**
 * The upstream path as the checks see it: a client that fills in the path parameter sends its
 * slashes percent-encoded (`v1beta%2Fmodels`, as generated OpenAPI clients do), and that is the
 * same path as `v1beta/models`. Only `%2F` is decoded here; checkUpstreamPath then sees every
 * segment (and decodes each for its own checks), so `..%2F..%2Fadmin` is refused as `../../admin`.
 */
export function decodeSlashes(path: string): string {
  return path.replace(/%2f/gi, '/');
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export type PathCheck = { ok: true } | { ok: false; reason: string };

/**
 * An upstream path may only name a resource below the provider's base URL: no `.`/`..`
 * segments (also percent-encoded), no encoded `/` or `\`, no empty segment (`//host`), no
 * scheme (`http://…`), no control characters. The URL built afterwards is checked again.
 */
export function checkUpstreamPath(path: string): PathCheck {
  if (path.includes('\\')) return { ok: false, reason: 'backslashes are not allowed' };
  if (hasControl(path) || /[\s#]/.test(path)) {
    return { ok: false, reason: 'control characters, spaces and # are not allowed' };
  }
  if (path === '') return { ok: true };
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    const raw = segments[i]!;
    if (raw === '') {
      if (i === segments.length - 1) continue; // a trailing slash
      return { ok: false, reason: 'empty path segments (//) are not allowed' };
    }
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return { ok: false, reason: 'bad percent-encoding' };
    }
    if (seg === '.' || seg === '..') return { ok: false, reason: 'dot segments are not allowed' };
    if (seg.includes('/') || seg.includes('\\') || hasControl(seg)) {
      return { ok: false, reason: 'encoded slashes and control characters are not allowed' };
    }
    if (i === 0 && /^[a-z][a-z0-9+.-]*:/i.test(seg)) {
      return { ok: false, reason: 'absolute URLs are not allowed' };
    }
  }
  return { ok: true };
}

/** Base URLs come from the config: each is parsed once (a few per process). */
const bases = new Map<string, { origin: string; path: string } | null>();

function parsedBase(baseUrl: string): { origin: string; path: string } | null {
  let base = bases.get(baseUrl);
  if (base === undefined) {
    const url = new URL(baseUrl);
    const web = url.protocol === 'http:' || url.protocol === 'https:';
    base = web ? { origin: url.origin, path: url.pathname.replace(/\/+$/, '') } : null;
    bases.set(baseUrl, base);
  }
  return base;
}

/**
 * The upstream origin and request target for a checked path: always the base URL's origin,
 * always below its path. Returns null when the result would leave the base URL.
 */
export function upstreamTarget(
  baseUrl: string,
  path: string,
  query: string,
): { origin: string; path: string } | null {
  const base = parsedBase(baseUrl);
  if (!base) return null;
  const target = `${base.path}/${path}`;
  // Parsing normalizes what a server would (dot segments, `%2e`): it must not move anything.
  const parsed = new URL(target, base.origin);
  if (parsed.origin !== base.origin) return null;
  if (parsed.pathname !== target) return null;
  if (query.includes('#')) return null;
  return { origin: base.origin, path: target + query };
}

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the ones every proxy drops. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Request headers that never reach the provider: the client's own Keyplane credentials and
 * cookies, anything that names or locates the client's connection, and what the proxy sets.
 */
const REQUEST_DROP = new Set([
  'host',
  'x-api-key',
  'authorization',
  'cookie',
  'accept-encoding',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  // Other providers' key headers: a client never chooses the key that is sent.
  'x-goog-api-key',
  'x-copilotcloud-public-api-key',
]);

/**
 * Response headers the client does not get: the provider's cookies (they would land on
 * Keyplane's origin), alternative services for it, and our own request id stays ours.
 */
const RESPONSE_DROP = new Set(['set-cookie', 'set-cookie2', 'alt-svc', 'x-request-id']);

const NO_TOKENS: ReadonlySet<string> = new Set();

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  // The usual values name no other header (and keep-alive is hop-by-hop anyway).
  if (value === undefined || value === 'keep-alive' || value === 'close') return NO_TOKENS;
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** The headers sent upstream: the client's, filtered, with the credential injected. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  injection: Injection,
  secret: string,
): Record<string, string | string[]> {
  const listed = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    const n = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(n) || listed.has(n) || REQUEST_DROP.has(n)) continue;
    if (n === injection.header) continue;
    out[n] = value;
  }
  for (const [name, value] of Object.entries(injection.defaults)) out[name] ??= value;
  // The provider's answer is inspected for the secret: it must come uncompressed (or decodable).
  out['accept-encoding'] = 'identity';
  out[injection.header] = `${injection.prefix}${secret}`;
  return out;
}

/**
 * The headers the client gets back: hop-by-hop and dropped ones removed, every value that holds
 * the secret masked. `decoded`: the body was decompressed here, so its length and encoding changed.
 */
export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  needles: Buffer[],
  decoded: boolean,
): Record<string, string | string[]> {
  const listed = connectionTokens(upstream.connection);
  const texts = needles.map((n) => n.toString('utf8'));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(upstream)) {
    const n = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(n) || listed.has(n) || RESPONSE_DROP.has(n)) continue;
    if (decoded && (n === 'content-length' || n === 'content-encoding')) continue;
    out[n] = Array.isArray(value) ? value.map((v) => maskText(v, texts)) : maskText(value, texts);
  }
  return out;
}

/** Shortest secret that is masked in answers: shorter strings occur in ordinary text. */
export const MIN_MASKED_LENGTH = 8;

/**
 * Every form in which a secret could come back: as is, JSON-escaped and percent-encoded.
 * Each needle is masked by as many `*` as it has bytes, so Content-Length stays right.
 */
export function secretNeedles(fields: SecretFields): Buffer[] {
  // The vault hands out one frozen object per cached secret: its needles live exactly as long.
  let needles = needlesOf.get(fields);
  if (!needles) needlesOf.set(fields, (needles = needlesFor(fields)));
  return needles;
}

const needlesOf = new WeakMap<SecretFields, Buffer[]>();

function needlesFor(fields: SecretFields): Buffer[] {
  const forms = new Set<string>();
  for (const value of Object.values(fields)) {
    if (value.length < MIN_MASKED_LENGTH) continue;
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
    forms.add(encodeURIComponent(value));
  }
  return [...forms].map((f) => Buffer.from(f, 'utf8')).sort((a, b) => b.length - a.length);
}

/** `needles` as text: each is masked by as many `*` as it has UTF-8 bytes. */
function maskText(text: string, needles: string[]): string {
  let out = text;
  for (const s of needles) {
    if (out.includes(s)) out = out.split(s).join('*'.repeat(Buffer.byteLength(s)));
  }
  return out;
}

/** The earliest occurrence of any needle at or after `from` (the longest on a tie). */
function firstMatch(buf: Buffer, needles: Buffer[], from: number): { at: number; len: number } {
  let best = { at: -1, len: 0 };
  for (const n of needles) {
    const at = buf.indexOf(n, from);
    if (at >= 0 && (best.at < 0 || at < best.at || (at === best.at && n.length > best.len))) {
      best = { at, len: n.length };
    }
  }
  return best;
}

const EMPTY = Buffer.alloc(0);

/** Length of the longest suffix of `buf` (from `from` on) that begins some needle. */
function partialTail(buf: Buffer, needles: Buffer[], from: number, longest: number): number {
  for (let k = Math.min(longest - 1, buf.length - from); k > 0; k--) {
    const tail = buf.length - k;
    for (const n of needles) {
      if (n.length <= k || n[0] !== buf[tail]) continue;
      if (n.compare(buf, tail, buf.length, 0, k) === 0) return k;
    }
  }
  return 0;
}

/** Thrown into the answer stream when it grows past the proxy's limit. */
export class AnswerTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the answer exceeds ${limit} bytes`);
    this.name = 'AnswerTooLargeError';
  }
}

/**
 * A byte stream filter that masks every needle, also across chunk boundaries: it holds back
 * only a tail that could be the start of a needle, until the next chunk settles it, so a
 * streamed answer (server-sent events) is not delayed. Output length equals input length.
 * Past `maxBytes` in all, the stream fails with AnswerTooLargeError.
 */
export function createScrubber(needles: Buffer[], maxBytes = Infinity): Transform {
  const longest = needles.reduce((m, n) => Math.max(m, n.length), 0);
  let pending = EMPTY;
  let seen = 0;
  const scrub = (buf: Buffer): Buffer => {
    if (!needles.length) return buf;
    let out = buf;
    let pos = 0;
    for (let m = firstMatch(buf, needles, 0); m.at >= 0; m = firstMatch(buf, needles, pos)) {
      if (out === buf) out = Buffer.from(buf); // the chunk is only copied when it is changed
      out.fill(0x2a, m.at, m.at + m.len); // '*'
      pos = m.at + m.len;
    }
    const cut = out.length - partialTail(buf, needles, pos, longest);
    pending = cut < out.length ? Buffer.from(out.subarray(cut)) : EMPTY;
    return cut < out.length ? out.subarray(0, cut) : out;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) return cb(new AnswerTooLargeError(maxBytes));
      const ready = scrub(pending.length ? Buffer.concat([pending, chunk]) : chunk);
      cb(null, ready.length ? ready : undefined);
    },
    flush(cb: TransformCallback) {
      // A held-back tail is a needle's beginning that never completed: plain text.
      const rest = pending;
      pending = EMPTY;
      cb(null, rest.length ? rest : undefined);
    },
  });
}

/** Thrown into the request body stream when it grows past the proxy's limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** Passes bytes through until `limit`, then fails the stream with BodyTooLargeError. */
export function createBodyLimiter(limit: number): Transform & { exceeded: boolean } {
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) {
        (t as Transform & { exceeded: boolean }).exceeded = true;
        return cb(new BodyTooLargeError(limit));
      }
      cb(null, chunk);
    },
  }) as Transform & { exceeded: boolean };
  t.exceeded = false;
  return t;
}

export type UpstreamFailure = 'timeout' | 'aborted' | 'unreachable' | 'reset' | 'malformed';

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** What went wrong with an upstream call, from the error undici (or the socket) raised. */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') return 'aborted';
  if (RESET_CODES.has(code)) return 'reset';
  // llhttp's codes: the bytes that came back were not an HTTP response.
  if (code.startsWith('HPE_') || e?.name === 'HTTPParserError') return 'malformed';
  return 'unreachable';
}

/** A short, secret-free name for an upstream error (for logs and messages). */
export function upstreamErrorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'error';
}
