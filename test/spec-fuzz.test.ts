import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';
import { partnerKey } from './support/leaks.ts';
import {
  HOSTILE_TEXT,
  HOSTILE_VALUES,
  valueOf,
  type OpenApiDocument,
  type Operation,
  type Schema,
} from './support/openapi-arbitrary.ts';
import { startSmtpServer } from './support/smtp.ts';
import { ENGINES } from './support/stores.ts';

/**
 * The served OpenAPI document drives a fuzzer (fast-check): every operation gets requests its
 * schemas accept (every bound included) and broken ones (hostile values in the body, query and
 * path, wrong content types, bad JSON, missing or foreign credentials). Whatever arrives, the
 * answer is never a 5xx. The run is seeded per operation (same requests every run) and bounded:
 * VALID + BROKEN requests per operation, each operation its own test.
 *
 * Nothing may legitimately be unavailable here: providers point at a loopback upstream that
 * answers 200, mail goes to a loopback SMTP server, GitHub's signing key is inline.
 */
const VALID = 10;
const BROKEN = 10;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** The operations, read from a throwaway app's document (the tests need them at collection). */
async function documentOf(): Promise<OpenApiDocument> {
  const h = await createHarness('sqlite');
  try {
    return (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as OpenApiDocument;
  } finally {
    await h.close();
  }
}
const doc = await documentOf();
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method]! })),
);

function seedOf(text: string): number {
  let h = 0;
  for (const c of text) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return h;
}

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

/** Ids that exist, by the path segment before the parameter (`/clients/{id}` → clients). */
type Pools = Record<string, string[]>;

function segmentBefore(path: string, param: string): string {
  const parts = path.split('/');
  return parts[parts.indexOf(`{${param}}`) - 1] ?? '';
}

function paramsOf(op: Operation, where: string) {
  return (op.parameters ?? []).filter((p) => p.in === where);
}

/** A request the operation's schemas accept, with the credentials its security asks for. */
function validRequest(
  path: string,
  method: string,
  op: Operation,
  pools: Pools,
  auth: Record<string, string>,
): fc.Arbitrary<FuzzRequest> {
  const pathArbs: Record<string, fc.Arbitrary<string>> = {};
  for (const p of paramsOf(op, 'path')) {
    const known = pools[segmentBefore(path, p.name)] ?? [];
    const generated = valueOf(doc, p.schema ?? { type: 'string' }).map(String);
    pathArbs[p.name] = known.length
      ? fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, generated)
      : generated;
  }
  const queryArbs: Record<string, fc.Arbitrary<unknown>> = {};
  const requiredQuery: string[] = [];
  for (const p of paramsOf(op, 'query')) {
    queryArbs[p.name] = valueOf(doc, p.schema ?? { type: 'string' });
    if (p.required) requiredQuery.push(p.name);
  }
  const bodySchema = op.requestBody?.content?.['application/json']?.schema as Schema | undefined;
  return fc
    .record({
      params: fc.record(pathArbs),
      query: fc.record(queryArbs, { requiredKeys: requiredQuery }),
      body: bodySchema ? valueOf(doc, bodySchema) : fc.constant(undefined),
    })
    .map(({ params, query, body }) => {
      let url = path;
      for (const [name, value] of Object.entries(params)) {
        url = url.replace(`{${name}}`, encodeURIComponent(value));
      }
      const search = new URLSearchParams();
      for (const [name, value] of Object.entries(query)) search.set(name, String(value));
      const qs = search.toString();
      const headers: Record<string, string> = { ...credentialsFor(op, auth) };
      const request: FuzzRequest = { method, url: qs ? `${url}?${qs}` : url, headers };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        request.payload = JSON.stringify(body);
      }
      return request;
    });
}

function credentialsFor(op: Operation, auth: Record<string, string>): Record<string, string> {
  const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
  if (schemes.includes('apiKey')) return { 'x-api-key': auth.apiKey! };
  if (schemes.includes('bearer')) return { authorization: `Bearer ${auth.admin!}` };
  if (schemes.includes('gitlabToken')) return { authorization: auth.gitlab! };
  return {};
}

type Mutation = (r: FuzzRequest) => FuzzRequest;

/** One way of breaking a valid request. */
function mutations(): fc.Arbitrary<Mutation> {
  const hostile = fc.constantFrom(...HOSTILE_VALUES);
  const text = fc.constantFrom(...HOSTILE_TEXT);
  const withBody = (r: FuzzRequest, payload: string, type = 'application/json') => ({
    ...r,
    headers: { ...r.headers, 'content-type': type },
    payload,
  });
  return fc.oneof(
    // One field of the body (or a new one) set to a hostile value, or the whole body replaced.
    fc
      .tuple(fc.string({ maxLength: 12 }), hostile, fc.boolean())
      .map(([name, value, existing]): Mutation => (r) => {
        const body = r.payload ? (JSON.parse(r.payload) as unknown) : {};
        if (body === null || typeof body !== 'object' || Array.isArray(body))
          return withBody(r, JSON.stringify(value));
        const keys = Object.keys(body);
        const key = existing && keys.length ? keys[name.length % keys.length]! : name;
        return withBody(r, JSON.stringify({ ...body, [key]: value }));
      }),
    fc.jsonValue({ maxDepth: 3 }).map(
      (v): Mutation =>
        (r) =>
          withBody(r, JSON.stringify(v)),
    ),
    fc.constantFrom('{', '{"a":', 'nul', '\u0000', '[1,]', '{"__proto__":{"x":1}}').map(
      (raw): Mutation =>
        (r) =>
          withBody(r, raw),
    ),
    fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x').map(
      (type): Mutation =>
        (r) =>
          withBody(r, r.payload ?? 'hello', type),
    ),
    // A query parameter (known or not) with hostile text.
    fc
      .tuple(fc.constantFrom('limit', 'cursor', 'from', 'to', 'period', 'status', 'x'), text)
      .map(([name, value]): Mutation => (r) => {
        const [path, qs = ''] = r.url.split('?');
        const search = new URLSearchParams(qs);
        search.set(name, value);
        return { ...r, url: `${path}?${search.toString()}` };
      }),
    // A path segment replaced with hostile text.
    fc.tuple(fc.nat(), text).map(([at, value]): Mutation => (r) => {
      const [path, qs] = r.url.split('?');
      const parts = path!.split('/');
      const i = 1 + (at % Math.max(1, parts.length - 1));
      parts[i] = encodeURIComponent(value) || parts[i]!;
      return { ...r, url: parts.join('/') + (qs ? `?${qs}` : '') };
    }),
    // No credentials, or somebody else's kind.
    fc
      .constantFrom<Record<string, string>>(
        {},
        { authorization: 'Bearer kp_nope' },
        { 'x-api-key': 'kp_live_0000' },
        { authorization: 'Basic eDp5' },
      )
      .map((headers): Mutation => (r) => {
        const { authorization: _a, 'x-api-key': _k, ...rest } = r.headers;
        return { ...r, headers: { ...rest, ...headers } };
      }),
  );
}

/** A loopback provider API that answers every call 200. */
async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe.each(ENGINES)('the OpenAPI document, fuzzed, on %s', (engine) => {
  let h: Harness;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  const pools: Pools = {};
  const auth: Record<string, string> = {};
  /** Operations that answered a schema-valid request with a 2xx at least once. */
  const answered2xx = new Set<string>();
  let validSent = 0;

  beforeAll(async () => {
    upstream = await startUpstream();
    smtp = await startSmtpServer();
    const providers = Object.fromEntries(
      ['gemini', 'openai', 'anthropic', 'exa', 'vultr', 'copilotkit'].map((p) => [
        p,
        { baseUrl: `${upstream.url}/${p}`, policy: 'byok_then_platform', timeoutMs: 5000 },
      ]),
    );
    auth.gitlab = 'gitlab-shared-secret-0123456789';
    h = await createHarness(engine, {
      env: { KEYPLANE_SMTP_URL: smtp.url, KEYPLANE_MAIL_FROM: 'Billing <billing@example.com>' },
      file: {
        providers,
        leaks: { github: { publicKeys: [partnerKey().config] }, gitlab: { token: auth.gitlab } },
      },
    });
    await seed(h, pools, auth);
  });

  afterAll(async () => {
    await h?.close();
    await upstream?.close();
    await smtp?.close();
  });

  it.each(operations)('$method $path never answers 5xx', async ({ path, method, op }) => {
    const name = op.operationId ?? `${method} ${path}`;
    const send = async (r: FuzzRequest) => {
      const res = await h.app.inject({
        method: r.method.toUpperCase() as 'GET',
        url: r.url,
        headers: r.headers,
        payload: r.payload,
      });
      const sent = `${r.method} ${r.url} ${(r.payload ?? '').slice(0, 600)}`;
      expect(res.statusCode, `${sent} → ${res.body.slice(0, 300)}`).toBeLessThan(500);
      return res.statusCode;
    };
    const valid = validRequest(path, method, op, pools, auth);
    await fc.assert(
      fc.asyncProperty(valid, async (r) => {
        validSent += 1;
        if ((await send(r)) < 300) answered2xx.add(name);
      }),
      { seed: seedOf(name), numRuns: VALID, endOnFailure: true },
    );
    await fc.assert(
      fc.asyncProperty(valid, mutations(), async (r, mutate) => {
        await send(mutate(r));
      }),
      { seed: seedOf(`${name} broken`), numRuns: BROKEN, endOnFailure: true },
    );
  });

  it('reached the operations: schema-valid requests got 2xx answers across the API', () => {
    expect(validSent).toBeGreaterThan(0);
    // Fixed and far below what a run reaches: most operations answer some valid request 2xx,
    // so a broken fixture (every request 401, say) fails here instead of passing unnoticed.
    expect(answered2xx.size).toBeGreaterThanOrEqual(Math.floor(operations.length / 3));
  });
});

/** Resources the fuzzer's path parameters can name, and the credentials it calls with. */
async function seed(h: Harness, pools: Pools, auth: Record<string, string>): Promise<void> {
  const post = async (
    url: string,
    payload: unknown,
    headers: Record<string, string> = h.adminHeaders,
  ) => {
    const res = await h.app.inject({ method: 'POST', url, headers, payload: payload as object });
    expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(300);
    return res.json() as Record<string, { id: string }> & { apiKey: string; id: string };
  };
  auth.admin = h.adminToken;
  const main = await post('/admin/v1/clients', { name: 'Fuzz', email: 'fuzz@example.com' });
  auth.apiKey = main.apiKey;
  const victim = await post('/admin/v1/clients', { name: 'Victim', email: 'victim@example.com' });
  const client = { 'x-api-key': main.apiKey };
  const extraKey = await post('/v1/keys', { name: 'spare' }, client);
  const cred = await post(
    '/v1/credentials',
    { provider: 'gemini', credentialName: 'fuzz', credentials: { apiKey: 'AIzaSy-fuzz-0000' } },
    client,
  );
  const platform = await post('/admin/v1/credentials', {
    provider: 'openai',
    credentialName: 'platform',
    credentials: { apiKey: 'sk-platform-fuzz-0000' },
  });
  const token = await post('/admin/v1/admin-tokens', { name: 'victim', scopes: ['admin'] });
  pools.clients = [victim.client!.id];
  pools.keys = [extraKey.key!.id, victim.key!.id];
  pools.credentials = [cred.id, platform.id];
  pools['admin-tokens'] = [token.adminToken!.id];
  pools.proxy = ['gemini', 'openai', 'aws', 'copilotkit'];
}
