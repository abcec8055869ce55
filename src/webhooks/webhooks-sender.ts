import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPrivateAddress } from './webhooks-fns.ts';

/** Response bodies are read up to this much, then the connection is dropped. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** What an attempt keeps of the response body. */
const EXCERPT_BYTES = 1024;

export interface SendResult {
  statusCode: number | null;
  durationMs: number;
  /** Why it failed when no HTTP status says so: timeout, reset, refused, refused address. */
  error: string | null;
  responseExcerpt: string | null;
}

export interface SendOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Development and tests: loopback and private addresses are allowed. */
  allowPrivate: boolean;
}

/**
 * Resolves like dns.lookup, then refuses private, loopback and link-local addresses: the check
 * runs on the very address the socket connects to, so a name that re-resolves (DNS rebinding)
 * cannot slip past it.
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as LookupAddress[];
      const bad = list.find((a) => isPrivateAddress(a.address));
      if (!allowPrivate && bad) {
        const e = Object.assign(new Error(`address ${bad.address} is private`), {
          code: 'EPRIVATE',
        });
        return callback(e, '', 0);
      }
      if ((options as { all?: boolean }).all)
        return (callback as never as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * One POST, never following redirects (a 3xx is a failure like any non-2xx), bounded by
 * `timeoutMs` from start to the last byte read.
 */
export function sendWebhook(opts: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const url = new URL(opts.url);
  const transport = url.protocol === 'https:' ? https : http;
  // An address literal never goes through `lookup`: check it here.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!opts.allowPrivate && isIP(literal) && isPrivateAddress(literal))
    return Promise.resolve({
      statusCode: null,
      durationMs: 0,
      error: 'EPRIVATE',
      responseExcerpt: null,
    });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: Omit<SendResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, durationMs: Math.round(performance.now() - started) });
    };
    const req = transport.request(
      url,
      {
        method: 'POST',
        headers: {
          ...opts.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(opts.body),
          'user-agent': 'Keyplane-Webhooks/1',
        },
        lookup: guardedLookup(opts.allowPrivate),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          const body = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
          finish({
            statusCode: res.statusCode ?? null,
            error: null,
            responseExcerpt: body || null,
          });
        };
        res.on('data', (c: Buffer) => {
          if (size >= MAX_RESPONSE_BYTES) return;
          chunks.push(c);
          size += c.length;
          if (size >= MAX_RESPONSE_BYTES) {
            done();
            req.destroy();
          }
        });
        res.on('end', done);
        res.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      finish({
        statusCode: null,
        error: `timeout after ${opts.timeoutMs} ms`,
        responseExcerpt: null,
      });
      req.destroy();
    }, opts.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish({ statusCode: null, error: err.code ?? 'connection error', responseExcerpt: null });
    });
    req.end(opts.body);
  });
}
