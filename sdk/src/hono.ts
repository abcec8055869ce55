import type { Context, MiddlewareHandler } from 'hono';
import { randomUUID } from 'node:crypto';
import { errorBody, meter, verifierOf, type MiddlewareOptions } from './middleware.ts';
import { keyFromHeaders, type KeyplaneContext } from './verifier.ts';

export type { KeyplaneContext, MiddlewareOptions };

/** Hono env for apps using the middleware: `new Hono<KeyplaneEnv>()` types `c.get('keyplane')`. */
export type KeyplaneEnv = { Variables: { keyplane: KeyplaneContext } };

export interface HonoMiddlewareOptions extends MiddlewareOptions {
  /**
   * The caller's address, for IP allowlists. Default: the socket address that
   * `@hono/node-server` exposes (`c.env.incoming`); headers like X-Forwarded-For are not trusted.
   */
  ip?: (c: Context) => string | undefined;
}

function nodeSocketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/**
 * Hono middleware that verifies the client key (`X-API-Key` or `Authorization: Bearer`)
 * through Keyplane and sets `c.get('keyplane')` to `{client, key}`. Refusals answer in
 * Keyplane's error envelope: 401 / 403 / 429 (with `Retry-After` and `RateLimit-*`), 503 when
 * Keyplane is unreachable. Only types come from hono.
 *
 * @example
 *   import { Hono } from 'hono';
 *   import { KeyVerifier } from '@keyplane/sdk';
 *   import { keyplaneHono, type KeyplaneEnv } from '@keyplane/sdk/hono';
 *
 *   const verifier = new KeyVerifier({ baseUrl: process.env.KEYPLANE_URL, adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const app = new Hono<KeyplaneEnv>();
 *   app.get('/api/reports', keyplaneHono({ verifier, scopes: ['reports:read'] }), (c) =>
 *     c.json({ client: c.get('keyplane').client.id }));
 */
export function keyplaneHono(options: HonoMiddlewareOptions): MiddlewareHandler<KeyplaneEnv> {
  const verifier = verifierOf(options);
  const scopes = options.scopes?.length ? options.scopes : undefined;
  const ipOf = options.ip ?? nodeSocketAddress;

  return async function keyplaneAuth(c, next) {
    const startedAt = performance.now();
    const endpoint = options.endpoint ?? `${c.req.method} ${c.req.routePath || c.req.path}`;
    const check = await verifier.check({
      key: keyFromHeaders((name) => c.req.header(name)),
      scopes,
      ip: ipOf(c),
      endpoint,
    });
    if (!check.ok) {
      const { denial } = check;
      return c.json(errorBody(denial.code, denial.message, randomUUID()), denial.status, {
        ...denial.headers,
      });
    }
    c.set('keyplane', check.context);
    for (const [k, v] of Object.entries(check.headers)) c.header(k, v);
    await next();
    meter(options.report, check.context, {
      endpoint,
      method: c.req.method,
      status: c.res.status,
      startedAt,
    });
  };
}
