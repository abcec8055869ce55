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

const accessLoggers = new WeakMap<Logger, Logger>();

/**
 * The per-request access line goes through a sibling logger without redaction: its fields are
 * fixed by us (method, route template, path, status, duration, request id) and never carry a
 * secret, and redaction is the dearest part of a log call on the hot path.
 */
export function accessLogOf(logger: Logger): Logger {
  return accessLoggers.get(logger) ?? logger;
}

/** Streams still holding lines at exit; one exit handler writes them all out. */
const openStreams = new Set<ReturnType<typeof pino.destination>>();
let exitHookInstalled = false;

/**
 * Log lines collect in a 4 KiB buffer written asynchronously, and at least every 100 ms: under
 * load hundreds of lines go out in one write instead of one write (and one thread-pool round
 * trip) per line. Whatever is still buffered is written synchronously when the process exits.
 */
export function bufferedDestination(dest: number | string): DestinationStream {
  const stream = pino.destination({ dest, sync: false, minLength: 4096 });
  const timer = setInterval(() => {
    try {
      stream.flush();
    } catch {
      /* a write is in flight: the next tick takes the rest */
    }
  }, 100);
  timer.unref();
  openStreams.add(stream);
  stream.on('close', () => {
    clearInterval(timer);
    openStreams.delete(stream);
  });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const s of openStreams) {
        try {
          s.flushSync();
        } catch {
          /* not opened yet, or already closed */
        }
      }
    });
  }
  return stream;
}

export function createLogger(
  options: { level?: string; destination?: DestinationStream } = {},
): Logger {
  const destination = options.destination ?? bufferedDestination(1);
  const base = {
    level: options.level ?? 'info',
    base: { service: 'keyplane' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const logger = pino(
    { ...base, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    destination,
  );
  accessLoggers.set(logger, pino(base, destination));
  return logger;
}

export type { Logger };
