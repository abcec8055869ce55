import { pino, type Logger, type DestinationStream } from 'pino';

/**
 * Everything that could carry a secret is redacted before a line is written: auth headers,
 * cookies, and any `credentials`, `apiKey`, `token`, `secret` or `password` field up to three
 * levels deep in a logged object.
 */
const SECRET_FIELDS = [
  'credentials',
  'apiKey',
  'token',
  'secret',
  'password',
  'masterKey',
  'masterKeys',
  'key',
];
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
];

export function createLogger(
  options: { level?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'keyplane' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination,
  );
}

export type { Logger };
