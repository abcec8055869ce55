import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Dispatcher } from 'undici';
import { AppError } from '../lib/errors.ts';
import {
  AnswerTooLargeError,
  clientResponseHeaders,
  createScrubber,
  upstreamErrorCode,
} from './proxy-fns.ts';
import {
  PROXY_ANSWER_LIMIT,
  type ProxyAnswer,
  type ProxyCall,
  type ProxyContext,
  type Route,
} from './proxy-types.ts';

function decoderFor(encoding: string): Transform | null | 'unknown' {
  const e = encoding.trim().toLowerCase();
  if (e === '' || e === 'identity') return null;
  if (e === 'gzip' || e === 'x-gzip') return createGunzip();
  if (e === 'deflate') return createInflate();
  if (e === 'br') return createBrotliDecompress();
  return 'unknown';
}

/**
 * `pipeline()` without its per-call cost: in Node 20 pipeline allocates an AbortController and
 * aborts it on every finish, a DOMException with a stack trace (~5% of the proxy's CPU in a
 * profile). An error or an early close anywhere destroys every stage, so the upstream
 * connection is released when the client goes away; `onError` hears the first error once.
 */
function chain(source: Readable, transforms: Transform[], onError: (err: Error) => void): void {
  const stages = [source, ...transforms];
  let failed = false;
  const fail = (err: Error | null) => {
    if (failed) return;
    failed = true;
    if (err) onError(err);
    for (const s of stages) s.destroy();
  };
  let tail = source;
  for (const s of stages) {
    s.on('error', fail);
    s.on('close', () => {
      if (!s.readableEnded) fail(null);
    });
    if (s !== source) tail = tail.pipe(s as Transform);
  }
}

/** The provider's answer as the client gets it: decoded if need be, scrubbed, bounded. */
export function answer(
  ctx: ProxyContext,
  r: Route,
  call: ProxyCall,
  res: Dispatcher.ResponseData,
  needles: Buffer[],
): ProxyAnswer {
  const { logger } = ctx;
  const refuse = (message: string) => {
    res.body.destroy();
    logger.warn(
      { provider: r.provider, clientId: call.clientId },
      `proxy answer refused: ${message}`,
    );
    return new AppError('bad_gateway', `${r.provider} ${message}`);
  };
  const declared = Number(res.headers['content-length']);
  if (declared > PROXY_ANSWER_LIMIT) {
    throw refuse(`answered with more than ${PROXY_ANSWER_LIMIT} bytes`);
  }
  const encoding = res.headers['content-encoding'];
  const decoder = decoderFor(Array.isArray(encoding) ? encoding.join(',') : (encoding ?? ''));
  if (decoder === 'unknown') {
    throw refuse('answered in a content encoding the proxy cannot inspect');
  }
  const scrubber = createScrubber(needles, PROXY_ANSWER_LIMIT);
  const onStreamError = (err: Error) => {
    // Headers are out by now: the client's connection is cut, its answer visibly incomplete.
    const cut = err instanceof AnswerTooLargeError;
    logger.warn(
      {
        provider: r.provider,
        clientId: call.clientId,
        upstreamError: cut ? 'ANSWER_TOO_LARGE' : upstreamErrorCode(err),
      },
      cut ? `proxy answer cut at ${PROXY_ANSWER_LIMIT} bytes` : 'proxy response stream ended early',
    );
  };
  chain(res.body, decoder ? [decoder, scrubber] : [scrubber], onStreamError);
  return {
    status: res.statusCode,
    headers: clientResponseHeaders(res.headers, needles, decoder !== null),
    body: scrubber,
  };
}
