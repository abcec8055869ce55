import { mkdtempSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/http/app.ts';
import {
  acceptsHtml,
  dashboardStaticRoutes,
  isApiPath,
} from '../src/http/routes/dashboard-static.ts';
import { DASHBOARD_DIST, ensureDashboardBuilt } from './support/dashboard-build.ts';
import { createHarness, type Harness } from './support/harness.ts';

/**
 * The dashboard's files over real loopback HTTP, as `keyplane serve` answers them. The files do
 * not depend on the storage engine, so this runs on SQLite only.
 */
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** A raw GET, so paths like `/assets/../x` reach the server as written (fetch normalizes them). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}) {
  const url = new URL(base);
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolvePromise, reject) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, path, method: 'GET', headers },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () =>
            resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    },
  );
}

describe('dashboard static files', () => {
  let h: Harness;
  let base: string;

  beforeAll(async () => {
    await ensureDashboardBuilt();
    h = await createHarness('sqlite');
    base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  }, 120_000);
  afterAll(async () => h?.close());

  it('serves index.html at / with no-store, the security headers and no inline script', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const html = await res.text();
    expect(html).toContain('<div id="root"></div>');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      // Every script is an external file from /assets: nothing inline for the CSP to allow.
      expect(attrs).toMatch(/src="\/assets\/[^"]+\.js"/);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+=/i);
  });

  it('serves the hashed bundles with their types and a long immutable cache', async () => {
    const html = await (await fetch(`${base}/`)).text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const css = /href="(\/assets\/[^"]+\.css)"/.exec(html)![1]!;
    const a = await fetch(`${base}${js}`);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    const body = await a.text();
    expect(body.length).toBeGreaterThan(1000);
    // The bundle never reaches for browser storage: the session lives in an HttpOnly cookie.
    expect(body).not.toMatch(/localStorage|sessionStorage|indexedDB/);
    const c = await fetch(`${base}${css}`);
    expect(c.status).toBe(200);
    expect(c.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(c.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    // Every file of the build is reachable under /assets.
    for (const f of readdirSync(join(DASHBOARD_DIST, 'assets'))) {
      expect((await fetch(`${base}/assets/${f}`)).status).toBe(200);
    }
  });

  it('answers a missing or unsafe asset with the JSON 404 envelope, never a file outside /assets', async () => {
    for (const path of [
      '/assets/nope-123.js',
      '/assets/../index.html',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/assets/.hidden',
      '/assets/',
    ]) {
      const res = await rawGet(base, path, { accept: HTML });
      expect(res.status, path).toBe(404);
      expect(res.headers['content-type'], path).toMatch(/^application\/json/);
      expect(JSON.parse(res.body).error.code, path).toBe('not_found');
    }
  });

  it('falls back to index.html for HTML GETs of dashboard paths (a reload of /clients/x works)', async () => {
    for (const path of ['/clients', '/clients/client_123', '/portal/credentials', '/audit?x=1']) {
      const res = await fetch(`${base}${path}`, { headers: { accept: HTML } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text(), path).toContain('<div id="root"></div>');
    }
  });

  it('keeps API 404s JSON envelopes, even when a browser asks for HTML', async () => {
    for (const path of [
      '/v1/nope',
      '/admin/v1/nope',
      '/dashboard/api/nope',
      '/docs/nope/deeper',
      '/metrics/x',
      '/healthz/x',
    ]) {
      const res = await fetch(`${base}${path}`, { headers: { accept: HTML } });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/json/);
      const body = (await res.json()) as { error: { code: string; requestId: string } };
      expect(body.error.code, path).toBe('not_found');
      expect(body.error.requestId, path).toMatch(/^req_/);
    }
    // Outside the API, a non-HTML GET (curl, a script) and any other method get the envelope too.
    const curl = await fetch(`${base}/clients/x`, { headers: { accept: '*/*' } });
    expect(curl.status).toBe(404);
    expect(((await curl.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const post = await fetch(`${base}/clients/x`, { method: 'POST', headers: { accept: HTML } });
    expect(post.status).toBe(404);
    expect(post.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('leaves the API routes alone', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const unauth = await fetch(`${base}/v1/health`, { headers: { accept: HTML } });
    expect(unauth.status).toBe(401);
    expect(((await unauth.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const spec = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      components: { securitySchemes: Record<string, unknown> };
    };
    // The dashboard's file routes are not part of the API description; its session cookie is.
    expect(Object.keys(spec.paths).filter((p) => p === '/' || p.startsWith('/assets'))).toEqual([]);
    expect(spec.components.securitySchemes.dashboardSession).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: 'kp_session',
    });
  });

  it('labels unknown paths as unmatched in the metrics (no series per random URL)', async () => {
    await fetch(`${base}/random-${Date.now()}`, { headers: { accept: '*/*' } });
    const text = await (
      await fetch(`${base}/metrics`, { headers: { authorization: h.adminHeaders.authorization } })
    ).text();
    expect(text).toMatch(
      /keyplane_http_requests_total\{method="GET",route="unmatched",status="404"\}/,
    );
    expect(text).not.toContain('random-');
  });
});

describe('dashboard static files without a build', () => {
  it('answers / and dashboard paths with a page saying how to build it (not a 500)', async () => {
    const app = Fastify() as unknown as App;
    app.decorateRequest('routeUrl', null);
    await app.register(async (scope) =>
      dashboardStaticRoutes(scope as App, null, { dir: mkdtempSync(join(tmpdir(), 'kp-nodist-')) }),
    );
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      for (const path of ['/', '/clients/abc']) {
        const res = await fetch(`${base}${path}`, { headers: { accept: HTML } });
        expect(res.status, path).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(await res.text()).toContain('npm run build:dashboard');
      }
      const asset = await fetch(`${base}/assets/index-abc.js`);
      expect(asset.status).toBe(404);
      expect(((await asset.json()) as { error: { code: string } }).error.code).toBe('not_found');
    } finally {
      await app.close();
    }
  });
});

describe('dashboard path rules', () => {
  it('names API paths and HTML requests exactly', () => {
    expect(isApiPath('/v1')).toBe(true);
    expect(isApiPath('/v1/keys')).toBe(true);
    expect(isApiPath('/v10')).toBe(false);
    expect(isApiPath('/admin/v1/x')).toBe(true);
    expect(isApiPath('/admin')).toBe(false);
    expect(isApiPath('/dashboard/api/session')).toBe(true);
    expect(isApiPath('/dashboard')).toBe(false);
    expect(isApiPath('/openapi.json')).toBe(true);
    expect(isApiPath('/clients/v1')).toBe(false);
    expect(acceptsHtml(HTML)).toBe(true);
    expect(acceptsHtml('*/*')).toBe(false);
    expect(acceptsHtml('application/json')).toBe(false);
    expect(acceptsHtml(undefined)).toBe(false);
  });
});
