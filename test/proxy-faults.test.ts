import { createServer, request as httpRequest, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

const SYSTEM = { type: 'system' as const, id: 'test' };
const KEY = 'AIzaSyF-faults-client-key-0123456789abcd';
const MiB = 1024 * 1024;
/** providers.gemini.timeoutMs in this suite. */
const TIMEOUT_MS = 1500;
/** providers.gemini.maxConnections in this suite. */
const MAX_CONNECTIONS = 2;

/**
 * A provider that misbehaves on demand, by the path's first segment after `/gemini/`:
 * `ok` answers (unless `healthy` is false: then it hangs), `hang` never answers, `reset` resets
 * the TCP connection, `garbage` and `badlength` answer with bytes that are not HTTP,
 * `huge` declares 11 MiB, `hugechunked` streams 11 MiB without a declared length.
 */
async function startFaultyUpstream() {
  const sockets = new Set<Socket>();
  const open = { now: 0, most: 0, total: 0 };
  const state = { healthy: true };
  const server: Server = createServer((req, res) => {
    req.resume();
    const action = (req.url ?? '').split('/')[2] ?? '';
    switch (action) {
      case 'ok':
        if (!state.healthy) return;
        return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      case 'hang':
        return;
      case 'reset':
        return void req.socket.resetAndDestroy();
      case 'garbage':
        req.socket.write('SSH-2.0-OpenSSH_9.6 not what you asked for\r\n\r\n');
        return void req.socket.destroySoon();
      case 'badlength':
        req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n{}');
        return void req.socket.destroySoon();
      case 'huge': {
        res.writeHead(200, { 'content-length': 11 * MiB, 'content-type': 'text/plain' });
        return void res.end(Buffer.alloc(11 * MiB, 'a'));
      }
      case 'hugechunked': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(256 * 1024, 'b');
        let sent = 0;
        const pump = () => {
          while (sent < 11 * MiB && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      default:
        return res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    open.total++;
    open.most = Math.max(open.most, ++open.now);
    s.on('close', () => {
      sockets.delete(s);
      open.now--;
    });
  });
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await listen();
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    baseUrl: `http://127.0.0.1:${port}/gemini`,
    state,
    open,
    /** Stops listening and drops every connection (the provider is down). */
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
    /** Listens again on the same port. */
    start: listen,
  };
}

describe.each(ENGINES)('proxy faults on %s', (engine) => {
  let h: Harness;
  let up: Awaited<ReturnType<typeof startFaultyUpstream>>;
  let apiKey: string;
  let address: string;
  /** Every answer body and header seen in this suite: none may hold the provider key. */
  const seen: string[] = [];

  beforeAll(async () => {
    up = await startFaultyUpstream();
    h = await createHarness(engine, {
      file: {
        providers: {
          gemini: {
            baseUrl: up.baseUrl,
            policy: 'byok',
            timeoutMs: TIMEOUT_MS,
            maxConnections: MAX_CONNECTIONS,
          },
        },
      },
    });
    const created = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Faults', email: 'faults@example.com' },
    });
    const client = created.json() as { client: { id: string }; apiKey: string };
    apiKey = client.apiKey;
    await h.services.credentials.create(
      client.client.id,
      { provider: 'gemini', credentialName: 'main', credentials: { apiKey: KEY } },
      SYSTEM,
    );
    address = await h.app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await h?.close();
    await up?.stop();
  });

  async function call(action: string) {
    const started = performance.now();
    const res = await h.app.inject({
      method: 'GET',
      url: `/v1/proxy/gemini/${action}`,
      headers: { 'x-api-key': apiKey },
    });
    seen.push(JSON.stringify(res.headers), res.body);
    return { res, ms: performance.now() - started };
  }

  function expectEnvelope(res: { statusCode: number; json(): unknown }, status: number) {
    const code = status === 504 ? 'upstream_timeout' : 'bad_gateway';
    expect([res.statusCode, (res.json() as { error: { code: string } }).error.code]).toEqual([
      status,
      code,
    ]);
  }

  it('reuses kept-alive connections across calls, never more than maxConnections', async () => {
    const before = up.open.total;
    for (let i = 0; i < 10; i++) expect((await call('ok')).res.statusCode).toBe(200);
    const many = await Promise.all(Array.from({ length: 12 }, () => call('ok')));
    expect(many.map((m) => m.res.statusCode)).toEqual(Array(12).fill(200));
    // 22 calls, and no more connections than the pool may hold, never more open at once.
    expect(up.open.total - before).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(up.open.most).toBeLessThanOrEqual(MAX_CONNECTIONS);
  });

  it('answers 504 at the configured timeout when the provider hangs, also for calls queued behind it', async () => {
    // Twice as many calls as connections: half of them wait in the pool for a hung connection.
    const calls = await Promise.all(
      Array.from({ length: 2 * MAX_CONNECTIONS }, () => call('hang')),
    );
    for (const { res, ms } of calls) {
      expectEnvelope(res, 504);
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      // The deadline holds for the queued calls too: they do not wait for a hung call to give
      // up its connection first (that would take 2 × the timeout). Slack for a loaded machine.
      expect(ms).toBeLessThan(2 * TIMEOUT_MS - 100);
    }
  });

  it('answers 502 when the provider resets the connection or answers with something that is not HTTP', async () => {
    for (const action of ['reset', 'garbage', 'badlength']) {
      const { res, ms } = await call(action);
      expectEnvelope(res, 502);
      expect(ms).toBeLessThan(TIMEOUT_MS);
    }
    const messages = seen.join('\n');
    expect(messages).toContain('closed the connection before answering');
    expect(messages).toContain('answered with something that is not HTTP');
  });

  it('refuses a declared answer over 10 MiB with 502 before any byte of it is sent', async () => {
    const { res } = await call('huge');
    expectEnvelope(res, 502);
    expect(res.json().error.message).toContain('more than 10485760 bytes');
  });

  it('cuts an undeclared answer at 10 MiB: the client sees it incomplete, never the rest', async () => {
    const got = await new Promise<{ status: number; bytes: number; complete: boolean }>(
      (resolve, reject) => {
        const req = httpRequest(
          new URL('/v1/proxy/gemini/hugechunked', address),
          { headers: { 'x-api-key': apiKey } },
          (res) => {
            let bytes = 0;
            res.on('data', (c: Buffer) => (bytes += c.length));
            const done = () => resolve({ status: res.statusCode!, bytes, complete: res.complete });
            res.on('end', done);
            res.on('error', done);
            res.on('aborted', done);
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThanOrEqual(10 * MiB);
    await waitFor(() => h.logs.text().includes('proxy answer cut at'), 'the cut to be logged');
  });

  it('recovers by itself: hung connections give way, and a provider back from down is reached again', async () => {
    up.state.healthy = false;
    const hung = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => call('ok')));
    for (const { res } of hung) expectEnvelope(res, 504);
    up.state.healthy = true;
    expect((await call('ok')).res.statusCode).toBe(200);

    await up.stop();
    expectEnvelope((await call('ok')).res, 502);
    await up.start();
    const back = await Promise.all(Array.from({ length: 4 }, () => call('ok')));
    expect(back.map((b) => b.res.statusCode)).toEqual([200, 200, 200, 200]);
  });

  it('never puts the provider key in an answer or a log line', async () => {
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.join('\n')).not.toContain(KEY);
    expect(h.logs.lines.length).toBeGreaterThan(0);
    expect(h.logs.text()).not.toContain(KEY);
  });
});
