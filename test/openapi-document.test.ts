import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';

/**
 * What third-party tools read from `GET /openapi.json` (SDK generators, linters, Swagger UI):
 * names, tags, security, media types, the framework's own errors, headers, shared components.
 */
type Json = Record<string, unknown>;
type Op = {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; description?: string }>;
  requestBody?: Json;
  responses: Record<string, Json & { content?: Record<string, unknown>; headers?: Json }>;
};
type Doc = {
  info: { license?: { name: string } };
  servers?: Array<{ url: string }>;
  tags?: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, Op>>;
  components: { schemas: Record<string, Json>; headers: Json; responses: Json };
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];

describe('the served OpenAPI document', () => {
  let h: Harness;
  let doc: Doc;
  let ops: Array<{ key: string; path: string; op: Op }>;

  beforeAll(async () => {
    h = await createHarness('sqlite');
    doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc;
    ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((m) => ({
        key: `${m.toUpperCase()} ${path}`,
        path,
        op: item[m]!,
      })),
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  it('bounds every number a request may carry (body, query, path) with a maximum', () => {
    const unbounded: string[] = [];
    const walk = (schema: unknown, where: string): void => {
      if (!schema || typeof schema !== 'object') return;
      const s = schema as Json & { $ref?: string };
      if (typeof s.$ref === 'string') {
        const name = s.$ref.split('/').pop()!;
        return walk(doc.components.schemas[name], where);
      }
      const type = s.type;
      const numeric = type === 'number' || type === 'integer';
      // zod's int() alone says 2^53 - 1: not a bound the code can hold (a date, a sum).
      const max = (s.maximum ?? s.exclusiveMaximum) as number | undefined;
      if (numeric && (max === undefined || max >= Number.MAX_SAFE_INTEGER)) {
        unbounded.push(where);
      }
      for (const [k, v] of Object.entries(s)) {
        if (k === 'properties' && v && typeof v === 'object') {
          for (const [name, sub] of Object.entries(v)) walk(sub, `${where}.${name}`);
        } else if (Array.isArray(v)) v.forEach((sub, i) => walk(sub, `${where}[${i}]`));
        else if (k === 'items' || k === 'additionalProperties' || k === 'not') walk(v, where);
      }
    };
    for (const { key, op } of ops) {
      for (const p of op.parameters ?? []) walk((p as Json).schema, `${key} ${p.in}:${p.name}`);
      const content = (op.requestBody?.content ?? {}) as Record<string, { schema?: unknown }>;
      for (const media of Object.values(content)) walk(media.schema, `${key} body`);
    }
    expect(unbounded).toEqual([]);
  });

  it('names every operation with a unique operationId and a described tag', () => {
    expect(ops.length).toBeGreaterThan(80);
    expect(ops.filter((o) => !o.op.operationId).map((o) => o.key)).toEqual([]);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z0-9]+$/);
    expect(doc.paths['/v1/keys']!.post!.operationId).toBe('createKey');
    expect(doc.paths['/admin/v1/clients/{id}/keys']!.post!.operationId).toBe('adminCreateKey');
    const described = new Map((doc.tags ?? []).map((t) => [t.name, t.description]));
    for (const { key, op } of ops) {
      expect(op.tags?.length, key).toBeGreaterThan(0);
      for (const tag of op.tags!)
        expect([key, tag, described.get(tag)]).toEqual([key, tag, expect.any(String)]);
    }
    expect(described.get('webhooks')).toBeTruthy();
    expect(described.get('admin: webhooks')).toBeTruthy();
  });

  it('declares servers, a license and shared components for the repeated shapes', () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
    expect(doc.info.license?.name).toBe('MIT');
    for (const name of ['Error', 'ApiKey', 'ApiKeyPage', 'Client', 'Invoice', 'Credential']) {
      expect(doc.components.schemas[name], name).toBeDefined();
    }
    // Every error answer references the one envelope instead of repeating it.
    const notFound = doc.paths['/v1/keys/{id}']!.get!.responses['404']!;
    expect(notFound.content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/Error' } },
    });
    const client = JSON.stringify(doc.paths['/admin/v1/clients/{id}']!.get!.responses['200']);
    expect(client).toContain('"#/components/schemas/Client"');
    expect(JSON.stringify(doc.paths['/v1/keys']!.get!.responses['200'])).toContain(
      '"#/components/schemas/ApiKeyPage"',
    );
  });

  it('declares the security every route takes: Bearer wherever an API key works, admin on /metrics', () => {
    for (const { key, path, op } of ops) {
      expect(op.security, key).toBeDefined();
      const schemes = op.security!.flatMap((s) => Object.keys(s));
      if (path.startsWith('/v1/') && schemes.includes('apiKey'))
        expect(schemes, key).toContain('bearer');
      if (path.startsWith('/admin/v1/')) expect(schemes, key).toContain('bearer');
    }
    expect(doc.paths['/metrics']!.get!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
  });

  it('gives the media types the routes answer with, and documents 413 and 415 on bodies', () => {
    expect(Object.keys(doc.paths['/metrics']!.get!.responses['200']!.content!)).toEqual([
      'text/plain',
    ]);
    for (const path of ['/v1/invoices/{id}/html', '/admin/v1/invoices/{id}/html']) {
      expect(Object.keys(doc.paths[path]!.get!.responses['200']!.content!), path).toEqual([
        'text/html',
      ]);
    }
    const withBody = ops.filter((o) => o.op.requestBody);
    expect(withBody.length).toBeGreaterThan(20);
    for (const { key, op } of withBody) {
      expect(Object.keys(op.responses), key).toEqual(expect.arrayContaining(['413', '415']));
    }
  });

  it('documents X-Request-Id on every answer and RateLimit-*/Retry-After where they are sent', () => {
    for (const { key, op } of ops) {
      for (const [status, response] of Object.entries(op.responses)) {
        if ('$ref' in response) continue;
        expect(response.headers?.['X-Request-Id'], `${key} ${status}`).toBeDefined();
      }
    }
    const me = doc.paths['/v1/me']!.get!.responses;
    expect(Object.keys(me['200']!.headers!)).toEqual(
      expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']),
    );
    expect(me['429']!.headers!['Retry-After']).toBeDefined();
    expect(doc.components.headers['Retry-After']).toBeDefined();
  });

  it('documents the proxy path as a path parameter that may hold slashes, with its errors', () => {
    expect(doc.paths['/v1/proxy/{provider}/{*}']).toBeUndefined();
    const get = doc.paths['/v1/proxy/{provider}/{path}']!.get!;
    const path = get.parameters!.find((p) => p.name === 'path')!;
    expect(path.in).toBe('path');
    expect(path.description).toMatch(/percent-encoded/);
    expect(Object.keys(get.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '404', '424', '502', '504']),
    );
    expect(get.operationId).toBe('proxyGet');
    expect(doc.paths['/v1/proxy/{provider}/{path}']!.post!.operationId).toBe('proxyPost');
  });

  it('answers a text/plain body to a JSON route with 415, as the README promises', async () => {
    for (const [url, headers] of [
      ['/admin/v1/clients', h.adminHeaders],
      ['/v1/keys', { 'x-api-key': 'kp_live_whatever' }],
    ] as const) {
      const res = await h.app.inject({
        method: 'POST',
        url,
        headers: { ...headers, 'content-type': 'text/plain' },
        payload: '{"name":"x","email":"x@example.com"}',
      });
      expect([url, res.statusCode, res.json().error.code]).toEqual([
        url,
        415,
        'unsupported_media_type',
      ]);
    }
  });

  it('answers /metrics in text/plain, and only with the admin token it declares', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const res = await h.app.inject({ method: 'GET', url: '/metrics', headers: h.adminHeaders });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });
});
