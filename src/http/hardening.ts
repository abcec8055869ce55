import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { SECURITY_HEADERS, sendError } from './app.ts';

/**
 * The edges of HTTP that never reach a route: malformed requests that Node rejects before
 * Fastify sees them, URLs the router cannot decode, and text PostgreSQL cannot store. Each is
 * answered in the error envelope of SPEC §3, with a request id, never as a 500.
 */

/** Router-level failures (bad percent-encoding, an over-long path segment). */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.headers(SECURITY_HEADERS);
  reply.header('x-request-id', request.id);
  const message =
    err.code === 'FST_ERR_BAD_URL'
      ? 'the URL is not valid (bad percent-encoding)'
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? 'a path segment is too long'
        : 'bad request';
  return sendError(reply, 'bad_request', message);
}

/**
 * Requests Node's HTTP parser rejects (NUL or other invalid bytes in a header, a garbage request
 * line, oversized headers): written on the raw socket, since there is no request object.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request took too long to arrive']
        : [400, 'bad_request', 'malformed HTTP request'];
  const requestId = newId('req');
  const body = JSON.stringify({ error: { code, message, requestId } });
  const headers = {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    connection: 'close',
  };
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        Object.entries(headers)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('') +
        `\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** True when any string (or object key) in the value holds a NUL character. Iterative: bodies may nest deeply. */
export function containsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/**
 * preValidation hook: PostgreSQL text cannot hold NUL (it fails the query), SQLite stores it; so
 * both engines refuse it up front, the same way.
 */
export function rejectNulCharacters(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (err?: Error) => void,
): void {
  // Callback style: this runs on every request, and the hot path allocates no promise for it.
  const where = containsNul(request.params)
    ? 'path'
    : containsNul(request.query)
      ? 'query'
      : containsNul(request.body)
        ? 'body'
        : null;
  if (where) {
    done(
      new AppError('validation_failed', `invalid ${where}: text must not contain NUL characters`),
    );
  } else done();
}

/**
 * Graceful stop (SIGTERM): once `app.close()` starts, the listening socket is closed (new
 * connections are refused) and every answer carries `Connection: close`, so a kept-alive client
 * socket ends with the request it was serving instead of holding the process open until the
 * keep-alive timeout. A request arriving on such a socket meanwhile gets 503 in the envelope.
 */
export function registerGracefulClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Callback-style hooks: they run on every request, so no promise is made for them.
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    void sendError(reply, 'service_unavailable', 'the server is shutting down');
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
