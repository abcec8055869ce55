import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './support/harness.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const BIN = (name: string) => join(ROOT, 'node_modules', '.bin', name);

/**
 * The served document through the tools an outside developer uses: `redocly lint` finds no
 * error in it, and a client generated from it (openapi-typescript types + openapi-fetch)
 * type-checks under tsc and works against a real server — the proxy's path included.
 */
describe('the OpenAPI document under third-party tools', () => {
  let h: Harness;
  let base: string;
  let dir: string;
  let upstream: Server;
  const upstreamSaw: string[] = [];
  let apiKey: string;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      upstreamSaw.push(req.url ?? '');
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"models":[]}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    h = await createHarness('sqlite', {
      file: { providers: { gemini: { baseUrl: `http://127.0.0.1:${port}/g`, policy: 'byok' } } },
    });
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const created = await h.app.inject({
      method: 'POST',
      url: '/admin/v1/clients',
      headers: h.adminHeaders,
      payload: { name: 'Tools', email: 'tools@example.com' },
    });
    const body = created.json() as { client: { id: string }; apiKey: string };
    apiKey = body.apiKey;
    await h.services.credentials.create(
      body.client.id,
      {
        provider: 'gemini',
        credentialName: 'main',
        credentials: { apiKey: 'AIzaSy-tools-0000001' },
      },
      { type: 'system', id: 'test' },
    );
    dir = mkdtempSync(join(tmpdir(), 'kp-openapi-'));
    writeFileSync(join(dir, 'openapi.json'), await (await fetch(`${base}/openapi.json`)).text());
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => upstream?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes redocly lint (recommended rules) with no error', { timeout: 90_000 }, async () => {
    const out = await run(BIN('redocly'), ['lint', join(dir, 'openapi.json'), '--format=json'], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string }) => err);
    const report = JSON.parse(out.stdout!.slice(out.stdout!.indexOf('{'))) as {
      totals: { errors: number };
      problems: Array<{ ruleId: string; severity: string; message: string }>;
    };
    const errors = report.problems.filter((p) => p.severity === 'error');
    expect(errors.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals.errors).toBe(0);
  });

  it(
    'generates a client (openapi-typescript + openapi-fetch) that type-checks and calls the proxy with a slashed path',
    { timeout: 120_000 },
    async () => {
      await run(BIN('openapi-typescript'), [join(dir, 'openapi.json'), '-o', join(dir, 'api.ts')]);
      writeFileSync(join(dir, 'client.ts'), CLIENT_PROGRAM);
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(
        join(ROOT, 'node_modules', 'openapi-fetch'),
        join(dir, 'node_modules', 'openapi-fetch'),
      );
      const tsc = await run(BIN('tsc'), ['-p', join(dir, 'tsconfig.json')]).catch(
        (err: { stdout?: string }) => err,
      );
      expect(tsc.stdout ?? '').toBe('');

      const { calls } = (await import(join(dir, 'client.ts'))) as {
        calls: (base: string, key: string, admin: string) => Promise<Record<string, unknown>>;
      };
      const seen = await calls(base, apiKey, h.adminToken);
      expect(seen.me).toBe(200);
      expect(seen.proxy).toEqual({ status: 200, data: { models: [] } });
      // Sent as v1beta%2Fmodels%2Fgemini-2.0-flash%3AgenerateContent: the slashes are slashes.
      expect(upstreamSaw).toContain('/g/v1beta/models/gemini-2.0-flash%3AgenerateContent');
      // A path that climbs out is refused after decoding (..%2F..%2Fadmin), before any call out.
      expect(seen.escape).toEqual({ status: 400, code: 'bad_request' });
      expect(upstreamSaw.filter((u) => u.includes('admin'))).toEqual([]);
      expect(seen.metrics).toMatch(/^# HELP /m);
    },
  );
});

const TSCONFIG = {
  compilerOptions: {
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ['es2022', 'dom'],
    types: [],
  },
  files: ['client.ts'],
};

/** What a user of the generated types writes; tsc checks it, then the test runs it. */
const CLIENT_PROGRAM = `import createClient from 'openapi-fetch';
import type { paths } from './api.js';

export async function calls(base: string, key: string, admin: string) {
  const client = createClient<paths>({ baseUrl: base, headers: { 'X-API-Key': key } });
  const me = await client.GET('/v1/me');
  const proxy = await client.POST('/v1/proxy/{provider}/{path}', {
    params: { path: { provider: 'gemini', path: 'v1beta/models/gemini-2.0-flash:generateContent' } },
  });
  const escape = await client.GET('/v1/proxy/{provider}/{path}', {
    params: { path: { provider: 'gemini', path: '../../admin/v1/clients' } },
  });
  const metrics = await client.GET('/metrics', {
    headers: { Authorization: 'Bearer ' + admin },
    parseAs: 'text',
  });
  const text: string | undefined = metrics.data;
  return {
    me: me.response.status,
    proxy: { status: proxy.response.status, data: proxy.data },
    escape: { status: escape.response.status, code: escape.error?.error.code },
    metrics: text,
  };
}
`;
