/**
 * The closed catalog of error codes Keyplane answers with. Each code maps to exactly one HTTP
 * status here and nowhere else; the Fastify error handler is the single translation point.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  invalid_json: 400,
  /** The proxy cannot forward this provider (its auth is a signature or token exchange). */
  not_supported: 400,
  unauthorized: 401,
  forbidden: 403,
  insufficient_scope: 403,
  client_suspended: 403,
  ip_not_allowed: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  headers_too_large: 431,
  /** The proxy found no credential to inject under the provider's policy. */
  no_credential: 424,
  unsupported_media_type: 415,
  rate_limited: 429,
  usage_exceeded: 429,
  /** A hard budget would be exceeded by this call (Retry-After: the period's end). */
  budget_exceeded: 429,
  internal_error: 500,
  bad_gateway: 502,
  not_configured: 503,
  service_unavailable: 503,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown> | undefined;
  /** Extra response headers (Retry-After and the like). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      cause?: unknown;
      context?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.context = options.context;
    this.headers = options.headers;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
