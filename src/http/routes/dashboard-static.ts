import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';
import { sendError, type App } from '../app.ts';

/**
 * The web dashboard's files (SPEC §8): `dashboard/dist`, built by `npm run build:dashboard`
 * (the root `prepare` script runs it, so `npm ci` builds it). `/` answers index.html, `/assets/*`
 * the hashed bundles, and any other GET that asks for HTML outside the API falls back to
 * index.html so the dashboard's own paths (`/clients/…`, `/portal/…`) survive a reload.
 *
 * No dependency: a handful of files, read on request (so a rebuild needs no restart), with
 * names checked against a strict pattern before they touch the file system.
 */
export const DEFAULT_DASHBOARD_DIR = resolve(import.meta.dirname, '../../../dashboard/dist');

/** Paths the dashboard never claims: their unknown GETs stay JSON 404 envelopes. */
export const API_PREFIXES = [
  '/v1',
  '/admin/v1',
  '/dashboard/api',
  '/docs',
  '/openapi.json',
  '/healthz',
  '/readyz',
  '/metrics',
];

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

/** Vite names bundles `name-HASH.ext`: the content never changes under one name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the current bundles: always fetched fresh. */
const NO_STORE = 'no-store';

/** `a/b-c.d`: plain segments only (no `..`, no dot files, no backslashes, no encoded tricks). */
const SAFE_ASSET = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

export function isApiPath(path: string): boolean {
  return API_PREFIXES.some(
    (p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`),
  );
}

/** A browser navigation asks for text/html; API clients and curl (any type) do not. */
export function acceptsHtml(accept: string | undefined): boolean {
  return !!accept && /\btext\/html\b/i.test(accept);
}

const missingBuildPage = (dir: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Keyplane dashboard not built</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d232b}code{background:#f1f3f5;padding:.1rem .3rem;border-radius:4px}</style>
</head><body>
<h1>The Keyplane dashboard is not built</h1>
<p>The API is running. To serve the web dashboard here, build it once:</p>
<pre><code>npm run build:dashboard</code></pre>
<p>(<code>npm ci</code> does it for you.) The files are expected in <code>${dir.replace(/[<>&]/g, '')}</code>.
The API itself answers under <code>/v1</code> and <code>/admin/v1</code>; its documentation is at <a href="/docs">/docs</a>.</p>
</body></html>
`;

export interface DashboardStaticOptions {
  /** Where the built dashboard is; default `dashboard/dist` of this checkout. */
  dir?: string;
}

export async function dashboardStaticRoutes(
  app: App,
  _services: Services | null,
  options: DashboardStaticOptions = {},
) {
  const dir = resolve(options.dir ?? DEFAULT_DASHBOARD_DIR);
  const assetsDir = resolve(dir, 'assets');

  async function sendIndex(reply: FastifyReply) {
    let html: Buffer | string;
    try {
      html = await readFile(resolve(dir, 'index.html'));
    } catch {
      html = missingBuildPage(dir);
    }
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', NO_STORE)
      .serializer((v: unknown) => v as string)
      .send(html);
  }

  function notFound(request: FastifyRequest, reply: FastifyReply) {
    // Answers exactly like the app's own 404, and counts as unmatched in the metrics.
    request.routeUrl = null;
    return sendError(
      reply,
      'not_found',
      `no route for ${request.method} ${request.url.split('?')[0]}`,
    );
  }

  app.get('/', { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));

  app.get('/assets/*', { schema: { hide: true } }, async (request, reply) => {
    const rel = (request.params as { '*': string })['*'];
    if (!SAFE_ASSET.test(rel)) return notFound(request, reply);
    const file = resolve(assetsDir, rel);
    if (!file.startsWith(assetsDir + sep)) return notFound(request, reply);
    try {
      const info = await stat(file);
      if (!info.isFile()) return notFound(request, reply);
      const body = await readFile(file);
      return reply
        .type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
        .header('cache-control', IMMUTABLE)
        .send(body);
    } catch {
      return notFound(request, reply);
    }
  });

  // The dashboard's own paths: an HTML GET outside the API gets index.html; anything else is
  // the usual JSON 404 (so API clients and scripts never receive a page by mistake).
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    if (isApiPath(path) || !acceptsHtml(request.headers.accept)) return notFound(request, reply);
    return sendIndex(reply);
  });
}
