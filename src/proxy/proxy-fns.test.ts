import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  AnswerTooLargeError,
  checkUpstreamPath,
  classifyUpstreamError,
  clientResponseHeaders,
  createBodyLimiter,
  createScrubber,
  injectionFor,
  proxyEndpoint,
  secretNeedles,
  splitProxyUrl,
  upstreamErrorCode,
  upstreamRequestHeaders,
  upstreamTarget,
} from './proxy-fns.ts';

const SECRET = 'sk-live-0123456789abcdef';

async function scrubbed(chunks: string[], fields = { apiKey: SECRET }): Promise<string> {
  return text(
    Readable.from(chunks.map((c) => Buffer.from(c))).pipe(createScrubber(secretNeedles(fields))),
  );
}

describe('injectionFor', () => {
  it("puts each provider's key where the provider expects it", () => {
    expect(injectionFor('gemini')).toEqual({ header: 'x-goog-api-key', prefix: '', defaults: {} });
    expect(injectionFor('openai')).toMatchObject({ header: 'authorization', prefix: 'Bearer ' });
    expect(injectionFor('vultr')).toMatchObject({ header: 'authorization', prefix: 'Bearer ' });
    expect(injectionFor('exa')).toMatchObject({ header: 'x-api-key', prefix: '' });
    expect(injectionFor('anthropic')).toEqual({
      header: 'x-api-key',
      prefix: '',
      defaults: { 'anthropic-version': '2023-06-01' },
    });
    for (const p of ['aws', 'gcp', 'azure', 'generic'] as const) expect(injectionFor(p)).toBeNull();
  });

  it('follows config authHeader: a header name, or name: scheme', () => {
    expect(injectionFor('gemini', 'X-Custom-Key')).toEqual({
      header: 'x-custom-key',
      prefix: '',
      defaults: {},
    });
    expect(injectionFor('exa', 'Authorization: Token')).toMatchObject({
      header: 'authorization',
      prefix: 'Token ',
    });
    expect(injectionFor('aws', 'Authorization: Bearer')).toBeNull();
  });
});

describe('paths and targets', () => {
  it('splits a proxy URL into provider, raw path and raw query', () => {
    expect(splitProxyUrl('/v1/proxy/gemini/v1beta/models%3Ax?alt=json&k=%20')).toEqual({
      provider: 'gemini',
      path: 'v1beta/models%3Ax',
      query: '?alt=json&k=%20',
    });
    expect(splitProxyUrl('/v1/proxy/gemini/')).toEqual({ provider: 'gemini', path: '', query: '' });
    expect(splitProxyUrl('/v1/proxy/gemini')).toBeNull();
    expect(splitProxyUrl('/v1/other/gemini/x')).toBeNull();
  });

  it('accepts ordinary provider paths', () => {
    for (const p of [
      '',
      'v1/models',
      'v1beta/models/gemini-2.0-flash:generateContent',
      'v1/chat/completions/',
      'files/abc%20def',
      'a/.well-known/x',
      'a/..b/c',
    ]) {
      expect([p, checkUpstreamPath(p)]).toEqual([p, { ok: true }]);
    }
  });

  it('refuses paths that could leave the base URL', () => {
    for (const p of [
      '..',
      '../admin',
      'a/../../b',
      'a/./b',
      '%2e%2e/x',
      '.%2E/x',
      '%2E/x',
      'a%2fb',
      'a%2F..%2Fb',
      'a%5cb',
      'a\\b',
      '/evil.example/x',
      'a//b',
      'http://evil.example/',
      'https:%2F%2Fevil.example',
      'javascript:alert(1)',
      'a%00b',
      'a b',
      'a#b',
      'bad%zz',
    ]) {
      expect([p, checkUpstreamPath(p).ok]).toEqual([p, false]);
    }
  });

  it('builds targets on the base URL only, below its path', () => {
    expect(upstreamTarget('https://api.example.com/v2/', 'account', '?a=1')).toEqual({
      origin: 'https://api.example.com',
      path: '/v2/account?a=1',
    });
    expect(upstreamTarget('http://127.0.0.1:9/gemini', '', '')).toEqual({
      origin: 'http://127.0.0.1:9',
      path: '/gemini/',
    });
    // What WHATWG parsing would normalize is refused even if a check upstream missed it.
    expect(upstreamTarget('https://api.example.com/v2', '../admin', '')).toBeNull();
    expect(upstreamTarget('https://api.example.com/v2', '%2e%2e/admin', '')).toBeNull();
    expect(upstreamTarget('file:///etc', 'passwd', '')).toBeNull();
  });

  it('meters a call as METHOD /v1/proxy/{provider}/*', () => {
    expect(proxyEndpoint('post', 'gemini')).toBe('POST /v1/proxy/gemini/*');
  });
});

describe('headers', () => {
  it("drops hop-by-hop headers and the client's own credentials, injects the provider key", () => {
    const out = upstreamRequestHeaders(
      {
        host: 'keyplane.example',
        connection: 'keep-alive, x-hop',
        'x-hop': 'gone',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        te: 'trailers',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic x',
        'x-api-key': 'kp_live_client',
        authorization: 'Bearer kp_live_client',
        cookie: 'session=1',
        'x-forwarded-for': '10.0.0.1',
        'accept-encoding': 'gzip, br',
        'x-goog-api-key': 'client-chosen',
        'content-type': 'application/json',
        'content-length': '12',
        'x-custom': 'kept',
      },
      injectionFor('openai')!,
      SECRET,
    );
    expect(out).toEqual({
      'content-type': 'application/json',
      'content-length': '12',
      'x-custom': 'kept',
      'accept-encoding': 'identity',
      authorization: `Bearer ${SECRET}`,
    });
  });

  it('keeps a client-chosen anthropic-version, adds the default otherwise', () => {
    const inj = injectionFor('anthropic')!;
    expect(upstreamRequestHeaders({}, inj, SECRET)['anthropic-version']).toBe('2023-06-01');
    expect(
      upstreamRequestHeaders({ 'anthropic-version': '2024-01-01' }, inj, SECRET)[
        'anthropic-version'
      ],
    ).toBe('2024-01-01');
  });

  it('masks the secret in response headers and drops cookies, hop-by-hop and decoded framing', () => {
    const needles = secretNeedles({ apiKey: SECRET });
    const upstream = {
      'content-type': 'application/json',
      'content-length': '42',
      'content-encoding': 'gzip',
      'set-cookie': ['a=1', 'b=2'],
      connection: 'close',
      'x-request-id': 'theirs',
      'x-echo': `key ${SECRET}`,
      'x-list': [`${encodeURIComponent(SECRET)}`, 'plain'],
    };
    expect(clientResponseHeaders(upstream, needles, true)).toEqual({
      'content-type': 'application/json',
      'x-echo': `key ${'*'.repeat(SECRET.length)}`,
      'x-list': ['*'.repeat(encodeURIComponent(SECRET).length), 'plain'],
    });
    expect(clientResponseHeaders(upstream, needles, false)).toMatchObject({
      'content-length': '42',
      'content-encoding': 'gzip',
    });
  });
});

describe('createScrubber', () => {
  const masked = '*'.repeat(SECRET.length);

  it('masks the secret in one chunk, keeping the length', async () => {
    const out = await scrubbed([`{"key":"${SECRET}","again":"${SECRET}"}`]);
    expect(out).toBe(`{"key":"${masked}","again":"${masked}"}`);
  });

  it('masks a secret cut across chunks, at every cut point', async () => {
    const whole = `before ${SECRET} after`;
    for (let cut = 1; cut < whole.length; cut++) {
      expect(await scrubbed([whole.slice(0, cut), whole.slice(cut)])).toBe(
        `before ${masked} after`,
      );
    }
    // One byte at a time.
    expect(await scrubbed([...whole])).toBe(`before ${masked} after`);
  });

  it('masks JSON-escaped and percent-encoded forms', async () => {
    const odd = 'key/with"quote&plus+sign';
    const out = await scrubbed([`a=${encodeURIComponent(odd)} b=${JSON.stringify(odd)}`], {
      apiKey: odd,
    });
    expect(out).not.toContain(encodeURIComponent(odd));
    expect(out).not.toContain(JSON.stringify(odd).slice(1, -1));
  });

  it('holds back only what could begin the secret, so streamed events are not delayed', async () => {
    const scrubber = createScrubber(secretNeedles({ apiKey: SECRET }));
    const seen: string[] = [];
    scrubber.on('data', (c: Buffer) => seen.push(c.toString()));
    scrubber.write(Buffer.from('data: {"token":"hello"}\n\n'));
    scrubber.write(Buffer.from('data: sk-live-01'));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['data: {"token":"hello"}\n\n', 'data: ']);
    scrubber.end(Buffer.from('X not the key'));
    await new Promise((r) => scrubber.on('end', r));
    expect(seen.join('')).toBe('data: {"token":"hello"}\n\ndata: sk-live-01X not the key');
  });

  it('passes an answer up to maxBytes and fails it past them, with no secret in the error', async () => {
    const limited = (chunks: string[]) =>
      text(
        Readable.from(chunks.map((c) => Buffer.from(c))).pipe(
          createScrubber(secretNeedles({ apiKey: SECRET }), 10),
        ),
      );
    expect(await limited(['12345', '67890'])).toBe('1234567890');
    const err = await limited(['123456', SECRET]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnswerTooLargeError);
    expect(String(err)).toBe('AnswerTooLargeError: the answer exceeds 10 bytes');
  });

  it('leaves short secrets and secret-free text alone', async () => {
    expect(secretNeedles({ apiKey: 'short' })).toEqual([]);
    expect(await scrubbed(['nothing to see'], { apiKey: 'short' })).toBe('nothing to see');
  });
});

describe('createBodyLimiter', () => {
  it('passes up to the limit and fails past it', async () => {
    const ok = createBodyLimiter(10);
    expect(await text(Readable.from([Buffer.from('12345'), Buffer.from('67890')]).pipe(ok))).toBe(
      '1234567890',
    );
    const tooMuch = createBodyLimiter(10);
    const sink = Readable.from([Buffer.from('123456'), Buffer.from('789012')]).pipe(tooMuch);
    await expect(text(sink)).rejects.toThrow('request body exceeds 10 bytes');
    expect(tooMuch.exceeded).toBe(true);
  });
});

describe('upstream errors', () => {
  it('tells timeouts, resets, non-HTTP answers and unreachable upstreams apart, never echoing a message', () => {
    expect(classifyUpstreamError({ code: 'UND_ERR_HEADERS_TIMEOUT' })).toBe('timeout');
    expect(classifyUpstreamError({ code: 'UND_ERR_CONNECT_TIMEOUT' })).toBe('timeout');
    expect(classifyUpstreamError({ cause: { code: 'ECONNREFUSED' } })).toBe('unreachable');
    expect(classifyUpstreamError({ code: 'UND_ERR_SOCKET' })).toBe('reset');
    expect(classifyUpstreamError({ code: 'ECONNRESET' })).toBe('reset');
    expect(classifyUpstreamError({ code: 'HPE_INVALID_CONSTANT' })).toBe('malformed');
    expect(classifyUpstreamError({ name: 'HTTPParserError' })).toBe('malformed');
    expect(classifyUpstreamError({ name: 'AbortError' })).toBe('aborted');
    expect(upstreamErrorCode({ code: 'ECONNREFUSED' })).toBe('ECONNREFUSED');
    expect(upstreamErrorCode({ code: `bad ${SECRET}` })).toBe('error');
    expect(upstreamErrorCode(new Error(SECRET))).toBe('error');
  });
});
