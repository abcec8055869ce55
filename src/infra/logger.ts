import { pino, type Logger, type DestinationStream } from 'pino';
import { isoOf } from '../lib/clock.ts';

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

/** One finished request, as the access line records it. */
export interface AccessEntry {
  requestId: string;
  method: string;
  /** Route template, or `unmatched`. */
  route: string;
  /** The path without the query string (the query may carry anything). */
  path: string;
  status: number;
  durationMs: number;
}

export type AccessLog = (entry: AccessEntry) => void;

/**
 * The per-request access line, written straight to the logger's destination in pino's own
 * shape (`{"level":30,"time":…,"service":"keyplane",…,"msg":"request"}`): its fields are fixed by
 * us and never carry a secret, so it skips pino's object walk and redaction, which were the
 * dearest part of a request after the network write. Text from the request (the path) is
 * JSON-escaped like any string. Honours the logger's level.
 */
export function accessLogOf(logger: Logger): AccessLog {
  const destination = (logger as unknown as Record<symbol, DestinationStream>)[
    pino.symbols.streamSym
  ]!;
  return (e) => {
    if (!logger.isLevelEnabled('info')) return;
    destination.write(
      `{"level":30,"time":"${isoOf(Date.now())}","service":"keyplane","requestId":${JSON.stringify(e.requestId)},"method":${JSON.stringify(e.method)},"route":${JSON.stringify(e.route)},"path":${JSON.stringify(e.path)},"status":${e.status},"durationMs":${Math.round(e.durationMs * 100) / 100},"msg":"request"}\n`,
    );
  };
}

/** Streams still holding lines at exit; one exit handler writes them all out. */
const openStreams = new Set<ReturnType<typeof pino.destination>>();
let exitHookInstalled = false;

/**
 * Log lines collect in a 4 KiB buffer written asynchronously, and at least every 100 ms: under
 * load hundreds of lines go out in one write instead of one write (and one thread-pool round
 * trip) per line. Whatever is still buffered is written synchronously when the process exits.
 */
export function bufferedDestination(
  dest: number | string,
  // Tests set their own period so that no flush races their assertions.
  { flushEveryMs = 100 }: { flushEveryMs?: number } = {},
): DestinationStream {
  const stream = pino.destination({ dest, sync: false });
  // Lines gather here and reach SonicBoom 4 KiB at a time. SonicBoom's own buffering appends each
  // write to a growing string whose byte length it measures on every write (flattening it): at a
  // line per request that copied ~3 KB per request, the largest allocation on the hot path.
  const write = stream.write.bind(stream);
  const flush = stream.flush.bind(stream);
  const flushSync = stream.flushSync.bind(stream);
  const end = stream.end.bind(stream);
  let lines: string[] = [];
  let size = 0;
  const pass = () => {
    if (!lines.length) return;
    const chunk = lines.join('');
    lines = [];
    size = 0;
    write(chunk);
  };
  stream.write = (line: string) => {
    lines.push(line);
    size += line.length;
    if (size >= 4096) pass();
    return true;
  };
  stream.flush = (cb?: (err?: Error) => unknown) => {
    pass();
    flush(cb);
  };
  // Called at exit, so everything goes out before it returns: our lines are written in sync mode,
  // as a write() in async mode would hand them to a thread that an exiting process abandons (the
  // "stopped" line of a graceful stop went missing that way on a loaded machine).
  // `sync` is SonicBoom's own mode flag (its constructor option), read on every write.
  const sonic = stream as unknown as { sync: boolean };
  stream.flushSync = () => {
    const wasSync = sonic.sync;
    sonic.sync = true;
    try {
      pass();
      flushSync();
    } finally {
      sonic.sync = wasSync;
    }
  };
  stream.end = () => {
    pass();
    end();
  };
  const timer = setInterval(() => {
    try {
      stream.flush();
    } catch {
      /* a write is in flight: the next tick takes the rest */
    }
  }, flushEveryMs);
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
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'keyplane' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

export type { Logger };
