/**
 * An error answer from Keyplane (its `{error: {code, message, requestId}}` envelope), or a
 * failure to reach it (`status` 0, code `network_error` / `timeout`).
 *
 * @example
 *   try {
 *     await kp.clients.get('client_missing');
 *   } catch (err) {
 *     if (err instanceof KeyplaneError && err.code === 'not_found') {
 *       // another client's id answers exactly like a missing one
 *     }
 *   }
 */
export class KeyplaneError extends Error {
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;
  /** snake_case code from Keyplane's error catalog (`not_found`, `rate_limited`, …). */
  readonly code: string;
  /** Keyplane's request id (X-Request-Id): quote it when asking the operator. */
  readonly requestId: string | null;
  /** Extra detail Keyplane sent (validation issues, the verification outcome, …). */
  readonly details: unknown;
  /** Seconds to wait before retrying, from a Retry-After header. */
  readonly retryAfter: number | null;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    requestId?: string | null;
    details?: unknown;
    retryAfter?: number | null;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.name = 'KeyplaneError';
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId ?? null;
    this.details = init.details;
    this.retryAfter = init.retryAfter ?? null;
  }
}

const FALLBACK_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'upstream_timeout',
};

/** Builds a KeyplaneError from a non-2xx answer, whether or not its body is the envelope. */
export function errorFromResponse(status: number, headers: Headers, body: unknown): KeyplaneError {
  const env =
    body && typeof body === 'object' && 'error' in body
      ? (body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }).error
      : undefined;
  const retry = Number(headers.get('retry-after'));
  return new KeyplaneError({
    status,
    code: typeof env?.code === 'string' ? env.code : (FALLBACK_CODES[status] ?? 'http_error'),
    message: typeof env?.message === 'string' ? env.message : `HTTP ${status}`,
    requestId:
      typeof env?.requestId === 'string' ? env.requestId : headers.get('x-request-id') || null,
    details: (env as { details?: unknown } | undefined)?.details,
    retryAfter: Number.isFinite(retry) && headers.has('retry-after') ? retry : null,
  });
}
