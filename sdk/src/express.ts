import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { errorBody, meter, verifierOf, type MiddlewareOptions } from './middleware.ts';
import { keyFromHeaders, type KeyplaneContext } from './verifier.ts';

declare global {
  // Express merges its request type from this global namespace.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the Keyplane middleware once the key passed. */
      keyplane?: KeyplaneContext;
    }
  }
}

export type { KeyplaneContext, MiddlewareOptions };

/**
 * Express (4 or 5) middleware that verifies the client key (`X-API-Key` or
 * `Authorization: Bearer`) through Keyplane and puts `{client, key}` on `req.keyplane`.
 * Refusals answer in Keyplane's error envelope: 401 / 403 / 429 (with `Retry-After` and
 * `RateLimit-*`), 503 when Keyplane is unreachable. Only types come from express.
 *
 * @example
 *   import express from 'express';
 *   import { KeyVerifier } from '@keyplane/sdk';
 *   import { keyplaneExpress } from '@keyplane/sdk/express';
 *
 *   const verifier = new KeyVerifier({ baseUrl: process.env.KEYPLANE_URL, adminToken: process.env.KEYPLANE_ADMIN_TOKEN });
 *   const app = express();
 *   app.get('/api/reports', keyplaneExpress({ verifier, scopes: ['reports:read'] }), (req, res) => {
 *     res.json({ client: req.keyplane!.client.id });
 *   });
 */
export function keyplaneExpress(options: MiddlewareOptions) {
  const verifier = verifierOf(options);
  const scopes = options.scopes?.length ? options.scopes : undefined;
  const endpointOf = (req: Request) =>
    options.endpoint ??
    `${req.method} ${req.baseUrl}${typeof req.route?.path === 'string' ? req.route.path : req.path}`;

  return function keyplaneAuth(req: Request, res: Response, next: NextFunction): void {
    const startedAt = performance.now();
    verifier
      .check({
        key: keyFromHeaders((name) => req.headers[name]),
        scopes,
        ip: req.ip ?? req.socket.remoteAddress,
        endpoint: endpointOf(req),
      })
      .then((check) => {
        if (!check.ok) {
          const { denial } = check;
          const requestId = String(res.getHeader('x-request-id') ?? randomUUID());
          res.statusCode = denial.status;
          for (const [k, v] of Object.entries(denial.headers)) res.setHeader(k, v);
          res.setHeader('content-type', 'application/json; charset=utf-8');
          res.end(JSON.stringify(errorBody(denial.code, denial.message, requestId)));
          return;
        }
        for (const [k, v] of Object.entries(check.headers)) res.setHeader(k, v);
        req.keyplane = check.context;
        if (options.report) {
          const report = options.report;
          res.once('finish', () =>
            meter(report, check.context, {
              endpoint: endpointOf(req),
              method: req.method,
              status: res.statusCode,
              startedAt,
            }),
          );
        }
        next();
      })
      .catch(next);
  };
}
