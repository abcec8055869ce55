import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

/**
 * A provider stand-in on loopback for proxy tests. It records every request it gets (method,
 * target, headers, body digest) and answers by the first path segment after the provider:
 *
 * - `echo`: 200 JSON of what it received — headers included, so the injected key comes back
 *   in the body, in `x-echo-key` and (JSON-escaped and percent-encoded) in `x-echo-forms`
 * - `status/{code}`: that status with a JSON body and `retry-after: 7`
 * - `stream`: a chunked answer: `first\n`, then waits for `release()`, then `second\n`
 * - `gzip`: a gzip-compressed JSON echo of the key
 * - `split`: the key echoed across two chunks (cut in the middle)
 * - `hang`: never answers
 */
export interface UpstreamRequest {
  provider: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
}

export interface ProxyUpstream {
  url: string;
  baseUrl(provider: string): string;
  requests: UpstreamRequest[];
  /** How many `stream` answers ended because the proxy hung up before they finished. */
  streamsCutShort(): number;
  /** The key a request carried, wherever its provider puts it. */
  keyOf(r: UpstreamRequest): string | null;
  /** Lets the pending `stream` answer finish. */
  release(): void;
  close(): Promise<void>;
}

export function keyOf(r: UpstreamRequest): string | null {
  const h = r.headers;
  const auth = typeof h.authorization === 'string' ? /^Bearer (.+)$/.exec(h.authorization) : null;
  return (h['x-goog-api-key'] as string) ?? (h['x-api-key'] as string) ?? auth?.[1] ?? null;
}

export async function startProxyUpstream(): Promise<ProxyUpstream> {
  const requests: UpstreamRequest[] = [];
  const sockets = new Set<Socket>();
  let releases: Array<() => void> = [];
  let cutShort = 0;

  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      if (bytes <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const [, provider = '', action = '', arg = ''] = (req.url ?? '').split('?')[0]!.split('/');
      const rec: UpstreamRequest = {
        provider,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyBytes: bytes,
        bodySha256: hash.digest('hex'),
      };
      requests.push(rec);
      const key = keyOf(rec) ?? '';
      switch (action) {
        case 'echo': {
          const body = JSON.stringify({
            method: rec.method,
            url: rec.url,
            headers: rec.headers,
            bodyBytes: bytes,
            bodySha256: rec.bodySha256,
            body: bytes <= 64 * 1024 ? Buffer.concat(chunks).toString('utf8') : null,
            message: `Incorrect API key provided: ${key}`,
          });
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-upstream': 'yes',
            'x-echo-key': key,
            'x-echo-forms': `${encodeURIComponent(key)} ${JSON.stringify(key)}`,
            'set-cookie': 'upstream_session=abc; Path=/',
            'x-request-id': 'upstream-request-id',
            'keep-alive': 'timeout=5',
          });
          return res.end(body);
        }
        case 'status': {
          const status = Number(arg);
          const body = JSON.stringify({
            error: { code: status, message: `upstream said ${status}` },
          });
          res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '7' });
          return res.end(body);
        }
        case 'stream': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('first\n');
          const finish = () => res.end('second\n');
          releases.push(finish);
          res.on('close', () => {
            if (!res.writableFinished) {
              cutShort++;
              releases = releases.filter((f) => f !== finish);
            }
          });
          return;
        }
        case 'gzip': {
          const body = gzipSync(JSON.stringify({ youSent: key }));
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            'content-length': body.length,
          });
          return res.end(body);
        }
        case 'split': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const half = Math.floor(key.length / 2);
          res.write(`key=${key.slice(0, half)}`);
          setImmediate(() => res.end(`${key.slice(half)};done`));
          return;
        }
        case 'hang':
          return; // never answers
        default:
          res.writeHead(404, { 'content-type': 'application/json' });
          return res.end('{"error":"no such fake route"}');
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    baseUrl: (p) => `${url}/${p}`,
    requests,
    streamsCutShort: () => cutShort,
    keyOf,
    release: () => {
      const r = releases;
      releases = [];
      for (const fn of r) fn();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port with nothing listening (for connection-refused tests). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
