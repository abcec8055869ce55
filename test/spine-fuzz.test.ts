import { connect } from 'node:net';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { ENGINES } from './support/stores.ts';

/**
 * Hostile input on the spine's admin routes: whatever arrives, the answer is a 4xx in the error
 * envelope (never a 500, never a hang), over in-process injection and over a real socket.
 */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends raw bytes on a fresh loopback connection; reads until the server closes or answers. */
function rawRequest(port: number, bytes: Buffer | string, ms = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${ms} ms (hang)`));
    }, ms);
    const finish = () => {
      clearTimeout(timer);
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let body = text.slice(split + 4);
      if (headers['content-length']) body = body.slice(0, Number(headers['content-length']));
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body });
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const m = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (split >= 0 && m && data.length >= split + 4 + Number(m[1])) {
        socket.destroy();
        finish();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.write(bytes);
  });
}

function expectEnvelope(
  res: { status: number; headers: Record<string, unknown>; body: string },
  label: string,
) {
  expect(res.status, `${label}: ${res.body}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${label}: ${res.body}`).toBeLessThan(500);
  let body: { error?: { code?: unknown; message?: unknown; requestId?: unknown } };
  try {
    body = JSON.parse(res.body);
  } catch {
    throw new Error(`${label}: not JSON: ${JSON.stringify(res.body)}`);
  }
  const what = `${label}: ${res.status} ${res.body.slice(0, 200)}`;
  expect(body.error, what).toBeDefined();
  expect(String(body.error!.code), what).toMatch(/^[a-z_]+$/);
  expect(typeof body.error!.message, what).toBe('string');
  expect(body.error!.requestId, what).toBe(res.headers['x-request-id']);
  expect(res.headers['x-content-type-options'], label).toBe('nosniff');
}

describe.each(ENGINES)('spine fuzz on %s', (engine) => {
  let h: Harness;
  let port: number;
  beforeAll(async () => {
    h = await createHarness(engine);
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    port = (h.app.server.address() as { port: number }).port;
  });
  afterAll(async () => h?.close());

  async function inject(opts: InjectOptions, label: string) {
    const res = await h.app.inject(opts);
    expectEnvelope({ status: res.statusCode, headers: res.headers, body: res.body }, label);
    return res;
  }

  it('rejects weird Authorization headers with 401, quickly', async () => {
    const bearers = [
      'Bearer',
      'Bearer ',
      'Bearer  ',
      'bearer x',
      'Basic dXNlcjpwYXNz',
      `Bearer ${'a'.repeat(10 * 1024)}`,
      // Backtracking bait: a long run of token characters followed by something that fails.
      `Bearer ${'a'.repeat(64)} x`,
      `Bearer ${h.adminToken} ${'a'.repeat(64)} x`,
      // The last character changed (to one it is not: a token may end in '0').
      `Bearer ${h.adminToken.slice(0, -1)}${h.adminToken.endsWith('0') ? '1' : '0'}`,
      `Bearer ${h.adminToken.toUpperCase()}`,
      `Bearer ${h.adminToken}\u00e9`,
      `Bearer kp_live_${'A'.repeat(49)}`,
      `Bearer ${'kpadm_live_'.repeat(500)}`,
    ];
    for (const authorization of bearers) {
      const res = await inject(
        { method: 'GET', url: '/admin/v1/admin-tokens', headers: { authorization } },
        authorization.slice(0, 40),
      );
      expect(res.statusCode, authorization.slice(0, 40)).toBe(401);
    }
  });

  it('rejects bodies of the wrong type with 400', async () => {
    const payloads = [
      'null',
      '[]',
      '42',
      '"name"',
      'true',
      '{}',
      '{"name": null}',
      '{"name": {"$ne": 1}}',
      '{"name": ["a"]}',
      '{"name": ""}',
      `{"name": "${'n'.repeat(201)}"}`,
      '{"name": "x", "scopes": "admin"}',
      '{"name": "x", "scopes": ["root"]}',
      '{"name": "x", "scopes": [1, 2]}',
      '{"name": "x", "__proto__": {"admin": true}}',
      '{"name": "x", "constructor": {"prototype": {"admin": true}}}',
      '{"name": "x"',
      '{"name": "x"}}',
      '\u0000',
      "{'name': 'x'}",
      '['.repeat(50_000) + ']'.repeat(50_000),
      '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000),
      '{"__proto__":' + '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_001),
    ];
    for (const payload of payloads) {
      const res = await inject(
        {
          method: 'POST',
          url: '/admin/v1/admin-tokens',
          headers: { ...h.adminHeaders, 'content-type': 'application/json' },
          payload,
        },
        payload.slice(0, 40),
      );
      expect(res.statusCode, payload.slice(0, 40)).toBe(400);
    }
  });

  it('rejects strings holding NUL characters with 400 on every engine', async () => {
    const res = await inject(
      {
        method: 'POST',
        url: '/admin/v1/admin-tokens',
        headers: h.adminHeaders,
        payload: { name: 'evil\u0000name' },
      },
      'NUL in name',
    );
    expect(res.statusCode).toBe(400);
    for (const url of [
      '/admin/v1/admin-tokens/%00/revoke',
      '/admin/v1/admin-tokens/adm_%00x/revoke',
      '/admin/v1/audit?clientId=%00',
      '/admin/v1/audit?action=a%00b',
    ]) {
      const r = await inject(
        { method: url.endsWith('revoke') ? 'POST' : 'GET', url, headers: h.adminHeaders },
        url,
      );
      expect(r.statusCode, url).toBe(400);
    }
  });

  it('rejects wrong content types with 415 and empty bodies with 400', async () => {
    for (const [type, payload, status] of [
      // Only JSON is parsed: text/plain is refused as a type, not as a string the schema refuses.
      ['text/plain', '{"name":"x"}', 415],
      ['application/x-www-form-urlencoded', 'name=x', 415],
      ['multipart/form-data; boundary=x', '--x\r\n\r\nname\r\n--x--', 415],
      ['application/xml', '<name>x</name>', 415],
      ['application/jsonx', '{"name":"x"}', 415],
      ['application/json', '', 400],
    ] as const) {
      const res = await inject(
        {
          method: 'POST',
          url: '/admin/v1/admin-tokens',
          headers: { ...h.adminHeaders, 'content-type': type },
          payload,
        },
        type,
      );
      expect(res.statusCode, type).toBe(status);
    }
  });

  it('rejects bad params and queries with 4xx', async () => {
    for (const [method, url] of [
      ['POST', `/admin/v1/admin-tokens/${'x'.repeat(101)}/revoke`],
      ['POST', `/admin/v1/admin-tokens/${'x'.repeat(600)}/revoke`],
      ['POST', '/admin/v1/admin-tokens/%ZZ/revoke'],
      ['POST', '/admin/v1/admin-tokens/%E2%98%83/revoke'],
      ['POST', '/admin/v1/admin-tokens/adm_doesnotexist/revoke'],
      ['GET', '/admin/v1/audit?limit=abc'],
      ['GET', '/admin/v1/audit?limit=0'],
      ['GET', '/admin/v1/audit?limit=1e400'],
      ['GET', '/admin/v1/audit?cursor=-1'],
      ['GET', '/admin/v1/audit?cursor=99999999999999999999999999'],
      ['GET', '/admin/v1/audit?clientId=a&clientId=b'],
      ['GET', '/admin/v1/audit?action[]=x'],
      ['DELETE', '/admin/v1/admin-tokens'],
      ['PUT', '/healthz'],
      ['GET', '/admin/v1/../../etc/passwd'],
      ['GET', '/%00'],
    ] as const) {
      const res = await h.app.inject({ method, url, headers: h.adminHeaders });
      // Unknown query parameters are ignored (200); everything else is refused in the envelope.
      if (res.statusCode >= 300)
        expectEnvelope({ status: res.statusCode, headers: res.headers, body: res.body }, url);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(500);
      if (!url.includes('action[]'))
        expect(res.statusCode, `${method} ${url}`).toBeGreaterThanOrEqual(400);
    }
  });

  it('answers hostile raw HTTP in the envelope, never a 500 or a hang', async () => {
    const token = h.adminToken;
    const requests: Array<[string, string | Buffer]> = [
      [
        'duplicated Authorization',
        `GET /admin/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      ],
      [
        'NUL in a header',
        `GET /admin/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\u0000b\r\nConnection: close\r\n\r\n`,
      ],
      [
        'raw UTF-8 in a header',
        Buffer.concat([
          Buffer.from(`GET /admin/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer `),
          Buffer.from('ключ🔑', 'utf8'),
          Buffer.from('\r\nConnection: close\r\n\r\n'),
        ]),
      ],
      ['garbage request line', 'HELLO THERE\r\n\r\n'],
      ['unknown method', 'BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
      [
        'bad content-length',
        'POST /admin/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
      ],
      [
        'headers too large',
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      ],
      [
        'declared body over 1 MiB',
        `POST /admin/v1/admin-tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n{"name":`,
      ],
    ];
    for (const [label, bytes] of requests) {
      const res = await rawRequest(port, bytes);
      if (label === 'duplicated Authorization') {
        // Node keeps the first Authorization header: the bad one, so 401.
        expect(res.status, label).toBe(401);
      }
      expectEnvelope(res, label);
    }
  });

  it('refuses an HTTP/1.1 request without Host with 400 (Node answers it, without a body)', async () => {
    const res = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(400);
  });

  it('still serves normally afterwards', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/admin/v1/admin-tokens',
      headers: h.adminHeaders,
    });
    expect(res.statusCode).toBe(200);
  });
});
