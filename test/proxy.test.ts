import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_OWNER } from '../src/credentials/credentials-types.ts';
import { startFakeProviders, type FakeProviders } from './support/fake-providers.ts';
import { createHarness, type Harness } from './support/harness.ts';
import {
  closedPort,
  keyOf,
  startProxyUpstream,
  type ProxyUpstream,
} from './support/proxy-upstream.ts';
import { ENGINES } from './support/stores.ts';
import { storedUsage } from './support/usage.ts';

const SYSTEM = { type: 'system' as const, id: 'test' };

// Provider keys as long and random-looking as real ones; each appears only where it belongs.
const KEYS = {
  geminiA: 'AIzaSyA-client-a-0123456789abcdefghijk',
  geminiB: 'AIzaSyB-client-b-9876543210zyxwvutsrqp',
  geminiPlatform: 'AIzaSyP-platform-operator-key-000000001',
  openaiA: 'sk-proj-client-a-openai-key-ABCDEFGHIJ',
  anthropicA: 'sk-ant-client-a-own-key-that-is-unused-1',
  anthropicPlatform: 'sk-ant-platform-operator-key-0000000002',
};
const ALL_KEYS = Object.values(KEYS);

describe.each(ENGINES)('upstream proxy on %s', (engine) => {
  let h: Harness;
  let up: ProxyUpstream;
  let fake: FakeProviders;
  let a: { id: string; apiKey: string };
  let b: { id: string; apiKey: string };
  let c: { id: string; apiKey: string };
  /** The same app over real loopback HTTP (streaming, raw request targets). */
  let address: string;

  beforeAll(async () => {
    up = await startProxyUpstream();
    fake = await startFakeProviders();
    const refused = await closedPort();
    h = await createHarness(engine, {
      file: {
        pricing: { 'POST /v1/proxy/gemini/*': '0.002', 'GET /v1/proxy/gemini/*': '0.001', '*': 0 },
        rateLimits: { endpoints: { 'DELETE /v1/proxy/gemini/*': { limit: 2, windowSeconds: 60 } } },
        providers: {
          gemini: { baseUrl: up.baseUrl('gemini'), policy: 'byok_then_platform', timeoutMs: 5000 },
          // The shared fake OpenAI: its refusal echoes the key it got.
          openai: { baseUrl: fake.baseUrl('openai'), policy: 'byok' },
          anthropic: { baseUrl: up.baseUrl('anthropic'), policy: 'platform' },
          exa: { baseUrl: up.baseUrl('exa'), policy: 'byok_then_platform', timeoutMs: 300 },
          vultr: { baseUrl: `http://127.0.0.1:${refused}/v2`, policy: 'platform' },
        },
      },
    });
    const mk = async (name: string) => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/admin/v1/clients',
        headers: h.adminHeaders,
        payload: { name, email: `${name.toLowerCase()}@example.com` },
      });
      expect(res.statusCode).toBe(201);
      const body = res.json() as { client: { id: string }; apiKey: string };
      return { id: body.client.id, apiKey: body.apiKey };
    };
    a = await mk('Alpha');
    b = await mk('Bravo');
    c = await mk('Charlie');
    const add = (owner: string, provider: string, apiKey: string) =>
      h.services.credentials.create(
        owner,
        { provider, credentialName: `${provider} main`, credentials: { apiKey } },
        SYSTEM,
      );
    await add(a.id, 'gemini', KEYS.geminiA);
    await add(b.id, 'gemini', KEYS.geminiB);
    await add(PLATFORM_OWNER, 'gemini', KEYS.geminiPlatform);
    await add(a.id, 'openai', KEYS.openaiA);
    await add(a.id, 'anthropic', KEYS.anthropicA);
    await add(PLATFORM_OWNER, 'anthropic', KEYS.anthropicPlatform);
    await add(PLATFORM_OWNER, 'vultr', 'platform-vultr-key-0000000003');
    await add(PLATFORM_OWNER, 'exa', 'platform-exa-key-00000000000004');
    fake.acceptApiKey('openai', 'some-other-key-entirely');
    address = await h.app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await h?.close();
    await up?.close();
    await fake?.close();
  });

  /** onResponse hooks run after inject() resolves: let them, then write the usage queue. */
  async function settle() {
    await new Promise((r) => setImmediate(r));
    await h.services.usage.flush();
  }

  function newRequests<T>(fn: () => Promise<T>): Promise<{ result: T; seen: typeof up.requests }> {
    const before = up.requests.length;
    return fn().then((result) => ({ result, seen: up.requests.slice(before) }));
  }

  /** Nothing the proxy answered or logged may contain a provider key. */
  function expectNoKeys(text: string) {
    for (const k of ALL_KEYS) expect(text).not.toContain(k);
  }

  const responseText = (res: { headers: Record<string, unknown>; body: string }) =>
    `${JSON.stringify(res.headers)}\n${res.body}`;

  /** A request written byte for byte on a socket: the target reaches the server unnormalized. */
  function rawRequest(target: string, headers: Record<string, string>): Promise<string> {
    const port = Number(new URL(address).port);
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        const lines = Object.entries({ host: 'x', ...headers, connection: 'close' })
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('');
        s.write(`GET ${target} HTTP/1.1\r\n${lines}\r\n`);
      });
      let text = '';
      s.on('data', (d) => (text += d.toString()));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
  }

  it("forwards a client's call with ITS OWN key, passing method, path, query, body and headers", async () => {
    const { result: res, seen } = await newRequests(() =>
      h.app.inject({
        method: 'POST',
        url: '/v1/proxy/gemini/echo/v1beta/models/gemini-2.0-flash:generateContent?alt=json&x=%20y',
        headers: {
          'x-api-key': a.apiKey,
          cookie: 'session=client-cookie',
          'x-custom': 'kept',
          'content-type': 'application/json',
          'x-goog-api-key': 'client-tries-its-own-key',
        },
        payload: { contents: [{ parts: [{ text: 'hello' }] }] },
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(seen).toHaveLength(1);
    const got = seen[0]!;
    expect(keyOf(got)).toBe(KEYS.geminiA);
    expect(got.method).toBe('POST');
    expect(got.url).toBe(
      '/gemini/echo/v1beta/models/gemini-2.0-flash:generateContent?alt=json&x=%20y',
    );
    expect(got.headers['x-custom']).toBe('kept');
    expect(got.headers['content-type']).toBe('application/json');
    // The client's own credentials and cookies never reach the provider.
    expect(got.headers['x-api-key']).toBeUndefined();
    expect(got.headers.authorization).toBeUndefined();
    expect(got.headers.cookie).toBeUndefined();
    expect(JSON.stringify(got.headers)).not.toContain(a.apiKey);
    expect(got.headers.host).toBe(new URL(up.url).host);

    const body = res.json() as { body: string; headers: Record<string, string> };
    expect(JSON.parse(body.body)).toEqual({ contents: [{ parts: [{ text: 'hello' }] }] });
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['keep-alive']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^req_/);
    // The echoed key is masked, byte for byte (Content-Length still matches the body).
    expect(body.headers['x-goog-api-key']).toBe('*'.repeat(KEYS.geminiA.length));
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
    expectNoKeys(responseText(res));
  });

  it('uses the operator key under byok_then_platform when the client has none, and audits the use', async () => {
    const { result: res, seen } = await newRequests(() =>
      h.app.inject({
        method: 'GET',
        url: '/v1/proxy/gemini/echo/v1beta/models',
        headers: { authorization: `Bearer ${c.apiKey}` },
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(seen.map(keyOf)).toEqual([KEYS.geminiPlatform]);
    expect(seen[0]!.headers.authorization).toBeUndefined();
    expectNoKeys(responseText(res));
    await h.services.credentials.flushUsage();
    const audit = await h.services.audit.list({ clientId: c.id, limit: 10 });
    const used = audit.data.filter((e) => e.action === 'credential.used');
    expect(used).toHaveLength(1);
    expect(used[0]!.data).toMatchObject({
      provider: 'gemini',
      source: 'platform',
      count: 1,
      firstRequestId: res.headers['x-request-id'],
    });
  });

  it('answers 424 no_credential under byok when the client has no key, without calling out', async () => {
    const hits = fake.hits('openai');
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/openai/v1/models',
      headers: { 'x-api-key': b.apiKey },
    });
    expect(res.statusCode).toBe(424);
    expect(res.json().error.code).toBe('no_credential');
    expect(res.json().error.message).toContain('policy byok');
    expect(fake.hits('openai')).toBe(hits);
  });

  it('masks the key the fake OpenAI echoes in its refusal, and passes its 401 through', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/openai/v1/models',
      headers: { 'x-api-key': a.apiKey },
    });
    // The provider's own answer: its status and body, the key masked.
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('invalid_api_key');
    expect(res.json().error.message).toBe(
      `Incorrect API key provided: ${'*'.repeat(KEYS.openaiA.length)}`,
    );
    expect(fake.lastRefusal('openai')).toBe('key');
    expectNoKeys(responseText(res));
  });

  it('under platform policy uses the operator key even when the client has its own, with anthropic-version', async () => {
    const { result: res, seen } = await newRequests(async () => {
      const r1 = await h.app.inject({
        method: 'POST',
        url: '/v1/proxy/anthropic/echo/v1/messages',
        headers: { 'x-api-key': a.apiKey, 'content-type': 'application/json' },
        payload: '{"model":"claude"}',
      });
      const r2 = await h.app.inject({
        method: 'POST',
        url: '/v1/proxy/anthropic/echo/v1/messages',
        headers: {
          'x-api-key': a.apiKey,
          'anthropic-version': '2024-01-01',
          'content-type': 'application/json',
        },
        payload: '{}',
      });
      return [r1, r2];
    });
    expect(res.map((r) => r.statusCode)).toEqual([200, 200]);
    expect(seen.map(keyOf)).toEqual([KEYS.anthropicPlatform, KEYS.anthropicPlatform]);
    expect(seen.map((r) => r.headers['anthropic-version'])).toEqual(['2023-06-01', '2024-01-01']);
    for (const r of res) expectNoKeys(responseText(r));
  });

  it('masks the key in compressed answers and across chunk boundaries', async () => {
    const gz = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/gemini/gzip',
      headers: { 'x-api-key': a.apiKey, 'accept-encoding': 'gzip' },
    });
    expect(gz.statusCode).toBe(200);
    expect(gz.headers['content-encoding']).toBeUndefined();
    expect(gz.json()).toEqual({ youSent: '*'.repeat(KEYS.geminiA.length) });

    const split = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/gemini/split',
      headers: { 'x-api-key': b.apiKey },
    });
    expect(split.body).toBe(`key=${'*'.repeat(KEYS.geminiB.length)};done`);
    // The upstream was asked for an uncompressed answer.
    expect(up.requests.at(-1)!.headers['accept-encoding']).toBe('identity');
    expectNoKeys(responseText(gz) + responseText(split));
  });

  it('passes upstream 4xx and 5xx through as they are', async () => {
    for (const status of [400, 404, 429, 500, 503]) {
      const res = await h.app.inject({
        method: 'GET',
        url: `/v1/proxy/gemini/status/${status}`,
        headers: { 'x-api-key': a.apiKey },
      });
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ error: { code: status, message: `upstream said ${status}` } });
      expect(res.headers['retry-after']).toBe('7');
    }
  });

  it('streams a chunked answer: the first chunk arrives before the upstream finishes', async () => {
    const url = new URL('/v1/proxy/gemini/stream', address);
    const received: string[] = [];
    const res = await new Promise<{ status: number; type: string; text: string }>(
      (resolve, reject) => {
        const req = httpRequest(url, { headers: { 'x-api-key': a.apiKey } }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            received.push(chunk);
            // Only once the first chunk is here does the upstream send the rest.
            if (received.join('') === 'first\n') up.release();
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              type: String(res.headers['content-type']),
              text: received.join(''),
            }),
          );
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      },
    );
    expect(res).toEqual({ status: 200, type: 'text/event-stream', text: 'first\nsecond\n' });
    expect(received[0]).toBe('first\n');
  });

  it('hangs up on the provider when the client goes away mid-stream', async () => {
    const before = up.streamsCutShort();
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        new URL('/v1/proxy/gemini/stream', address),
        { headers: { 'x-api-key': a.apiKey } },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => undefined);
      req.on('response', (res) => res.on('error', reject));
      req.end();
    });
    await expect.poll(() => up.streamsCutShort()).toBe(before + 1);
  });

  it('answers HEAD and OPTIONS with the provider headers and no body', async () => {
    const head = await h.app.inject({
      method: 'HEAD',
      url: '/v1/proxy/gemini/echo/v1beta/models',
      headers: { 'x-api-key': a.apiKey },
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers['x-upstream']).toBe('yes');
    expect(head.body).toBe('');
    expect(up.requests.at(-1)!.method).toBe('HEAD');
    const options = await h.app.inject({
      method: 'OPTIONS',
      url: '/v1/proxy/gemini/echo/v1beta/models',
      headers: { 'x-api-key': a.apiKey },
    });
    expect(options.statusCode).toBe(200);
    expect(up.requests.at(-1)!.method).toBe('OPTIONS');
  });

  it('documents the route in OpenAPI', async () => {
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const path = Object.keys(doc.paths).find((p) => p.startsWith('/v1/proxy/'));
    expect(path).toBeDefined();
    expect(Object.keys(doc.paths[path!]!)).toEqual(
      expect.arrayContaining(['get', 'post', 'put', 'patch', 'delete']),
    );
  });

  it('streams request bodies larger than the API limit, and refuses ones over the proxy limit', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 3, 'ab');
    const { result: res, seen } = await newRequests(() =>
      h.app.inject({
        method: 'PUT',
        url: '/v1/proxy/gemini/echo/upload',
        headers: { 'x-api-key': a.apiKey, 'content-type': 'application/octet-stream' },
        payload: big,
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(seen[0]!.bodyBytes).toBe(big.length);
    expect(seen[0]!.bodySha256).toBe(createHash('sha256').update(big).digest('hex'));

    const { result: tooBig, seen: none } = await newRequests(() =>
      h.app.inject({
        method: 'POST',
        url: '/v1/proxy/gemini/echo/upload',
        headers: { 'x-api-key': a.apiKey, 'content-type': 'application/octet-stream' },
        payload: Buffer.alloc(10 * 1024 * 1024 + 1),
      }),
    );
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().error.code).toBe('payload_too_large');
    expect(none).toHaveLength(0);
  });

  it('refuses a chunked body that grows past the proxy limit', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        new URL('/v1/proxy/gemini/echo/upload', address),
        { method: 'POST', headers: { 'x-api-key': a.apiKey, 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < 12) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
  });

  it('refuses paths that would leave the base URL, before any credential is used', async () => {
    const usesOfA = async () => {
      await h.services.credentials.flushUsage();
      return (await h.services.audit.list({ clientId: a.id, limit: 1000 })).data
        .filter((e) => e.action === 'credential.used')
        .reduce((n, e) => n + Number(e.data.count), 0);
    };
    const usedBefore = await usesOfA();
    const before = up.requests.length;
    const attempts = [
      '/v1/proxy/gemini/../../admin/v1/clients',
      '/v1/proxy/gemini/echo/../../../admin/v1/clients',
      '/v1/proxy/gemini/%2e%2e/%2e%2e/admin',
      '/v1/proxy/gemini/echo/%2E%2E/x',
      '/v1/proxy/gemini/echo/./x',
      '/v1/proxy/gemini/..%2f..%2fadmin',
      '/v1/proxy/gemini/echo%5c..%5cx',
      '/v1/proxy/gemini//evil.example/x',
      '/v1/proxy/gemini/http://evil.example/x',
      '/v1/proxy/gemini/https:%2F%2Fevil.example/',
      '/v1/proxy/gemini/%2F%2Fevil.example/x',
      '/v1/proxy/gemini/@evil.example/x',
    ];
    const statuses = [];
    for (const target of attempts) {
      const raw = await rawRequest(target, { 'x-api-key': a.apiKey });
      statuses.push([target, raw.slice(0, 12)]);
    }
    // '@evil.example' is only a path segment below the base URL: forwarded there, harmlessly.
    expect(statuses).toEqual(
      attempts.map((t) => [t, t.includes('@') ? 'HTTP/1.1 404' : 'HTTP/1.1 400']),
    );
    expect(up.requests.slice(before).map((r) => r.url)).toEqual(['/gemini/@evil.example/x']);
    up.requests.splice(before);
    expect(up.requests.length).toBe(before);
    // Every refusal happened before resolution: only the one forwarded call opened a credential.
    expect(await usesOfA()).toBe(usedBefore + 1);
  });

  it('answers 404 for unknown providers, not_supported for signed ones, not_configured without a base URL', async () => {
    const call = (url: string) =>
      h.app.inject({ method: 'GET', url, headers: { 'x-api-key': a.apiKey } });
    const unknown = await call('/v1/proxy/nosuch/v1/x');
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'not_found']);
    for (const p of ['aws', 'gcp', 'azure', 'generic']) {
      const res = await call(`/v1/proxy/${p}/x`);
      expect([p, res.statusCode, res.json().error.code]).toEqual([p, 400, 'not_supported']);
    }
    const copilot = await call('/v1/proxy/copilotkit/x');
    expect([copilot.statusCode, copilot.json().error.code]).toEqual([503, 'not_configured']);
    const anon = await h.app.inject({ method: 'GET', url: '/v1/proxy/gemini/echo/x' });
    expect(anon.statusCode).toBe(401);
  });

  it('answers 504 upstream_timeout when the provider is too slow, 502 bad_gateway when unreachable', async () => {
    const slow = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/exa/hang',
      headers: { 'x-api-key': a.apiKey },
    });
    expect(slow.statusCode).toBe(504);
    expect(slow.json().error.code).toBe('upstream_timeout');

    const down = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/vultr/account',
      headers: { 'x-api-key': a.apiKey },
    });
    expect(down.statusCode).toBe(502);
    expect(down.json().error.code).toBe('bad_gateway');
    expectNoKeys(responseText(slow) + responseText(down));
  });

  it('meters N proxied calls as exactly N usage events at the proxy price', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Metered', email: 'metered@example.com' },
    });
    const m = res.json() as { client: { id: string }; apiKey: string };
    await h.services.credentials.create(
      m.client.id,
      { provider: 'gemini', credentialName: 'mine', credentials: { apiKey: KEYS.geminiA } },
      SYSTEM,
    );
    const N = 25;
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        h.app.inject({
          method: i % 5 === 0 ? 'GET' : 'POST',
          url: `/v1/proxy/gemini/echo/v1beta/models/m${i}:generateContent`,
          headers: { 'x-api-key': m.apiKey, 'content-type': 'application/json' },
          ...(i % 5 === 0 ? {} : { payload: { i } }),
        }),
      ),
    );
    expect(answers.every((r) => r.statusCode === 200)).toBe(true);
    await settle();
    const gets = Math.ceil(N / 5);
    expect(await storedUsage(h.services.store.db, m.client.id)).toEqual({
      calls: N,
      costMicros: (N - gets) * 2000 + gets * 1000,
    });
    const usage = await h.app.inject({
      method: 'GET',
      url: '/v1/usage?from=2000-01-01&to=2100-01-01&groupBy=endpoint',
      headers: { 'x-api-key': m.apiKey },
    });
    const groups = (usage.json() as { groups: Array<{ group: string; calls: number }> }).groups;
    expect(groups.find((g) => g.group === 'POST /v1/proxy/gemini/*')?.calls).toBe(N - gets);
    expect(groups.find((g) => g.group === 'GET /v1/proxy/gemini/*')?.calls).toBe(gets);
  });

  it('applies per-endpoint rate limits by provider endpoint (DELETE /v1/proxy/gemini/*)', async () => {
    const call = () =>
      h.app.inject({
        method: 'DELETE',
        url: '/v1/proxy/gemini/echo/v1beta/cachedContents/x',
        headers: { 'x-api-key': c.apiKey },
      });
    const first = await call();
    const second = await call();
    expect(first.statusCode).not.toBe(429);
    expect(second.statusCode).not.toBe(429);
    expect(second.headers['ratelimit-limit']).toBe('2');
    const third = await call();
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe('rate_limited');
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
  });

  it("never lets one client's call use another client's key", async () => {
    const before = up.requests.length;
    const calls = Array.from({ length: 40 }, (_, i) => {
      const who = i % 2 === 0 ? a : b;
      return h.app
        .inject({
          method: 'POST',
          url: `/v1/proxy/gemini/echo/call-${who.id}-${i}`,
          headers: { 'x-api-key': who.apiKey },
          payload: '{}',
        })
        .then((r) => ({ who, r }));
    });
    const results = await Promise.all(calls);
    expect(results.every(({ r }) => r.statusCode === 200)).toBe(true);
    const seen = up.requests.slice(before);
    expect(seen).toHaveLength(40);
    for (const r of seen) {
      const caller = r.url.includes(a.id) ? 'a' : 'b';
      expect([r.url, keyOf(r)]).toEqual([r.url, caller === 'a' ? KEYS.geminiA : KEYS.geminiB]);
    }
    // A's byok-only OpenAI key never serves B (B gets 424, and nothing is sent).
    const hits = fake.hits('openai');
    const res = await h.app.inject({
      method: 'GET',
      url: '/v1/proxy/openai/v1/models',
      headers: { 'x-api-key': b.apiKey },
    });
    expect(res.statusCode).toBe(424);
    expect(fake.hits('openai')).toBe(hits);
  });

  it('never writes a provider key to the logs', async () => {
    // Last in the suite: every call above (echoes, failures, timeouts) has logged by now.
    await settle();
    expect(h.logs.lines.length).toBeGreaterThan(0);
    expectNoKeys(h.logs.text());
  });
});

describe.each(ENGINES)(
  'proxy credentials in development and production on %s (seed 04)',
  (engine) => {
    let up: ProxyUpstream;
    const ENV_KEY = 'exa-developer-env-key-0123456789';
    let saved: string | undefined;

    beforeAll(async () => {
      up = await startProxyUpstream();
      saved = process.env.EXA_API_KEY;
      process.env.EXA_API_KEY = ENV_KEY;
    });
    afterAll(async () => {
      if (saved === undefined) delete process.env.EXA_API_KEY;
      else process.env.EXA_API_KEY = saved;
      await up?.close();
    });

    async function callAs(mode: 'development' | 'production') {
      const h = await createHarness(engine, {
        env: { KEYPLANE_MODE: mode },
        file: { providers: { exa: { baseUrl: up.baseUrl('exa'), policy: 'byok' } } },
      });
      try {
        const created = await h.app.inject({
          method: 'POST',
          url: '/admin/v1/clients',
          headers: h.adminHeaders,
          payload: { name: 'Dev', email: 'dev@example.com' },
        });
        const before = up.requests.length;
        const res = await h.app.inject({
          method: 'POST',
          url: '/v1/proxy/exa/echo/search',
          headers: { 'x-api-key': created.json().apiKey, 'content-type': 'application/json' },
          payload: { query: 'keyplane' },
        });
        return { res, seen: up.requests.slice(before), logs: h.logs.text() };
      } finally {
        await h.close();
      }
    }

    it('development mode falls back to EXA_API_KEY from the environment', async () => {
      const { res, seen, logs } = await callAs('development');
      expect(res.statusCode).toBe(200);
      expect(seen.map(keyOf)).toEqual([ENV_KEY]);
      expect(res.body).not.toContain(ENV_KEY);
      expect(logs).not.toContain(ENV_KEY);
    });

    it('production never reads provider keys from the environment', async () => {
      const { res, seen } = await callAs('production');
      expect(res.statusCode).toBe(424);
      expect(res.json().error.code).toBe('no_credential');
      expect(seen).toHaveLength(0);
    });
  },
);
