import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { describe, expect, it } from 'vitest';
import { accessLogOf, createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, stream: stream as unknown as DestinationStream };
}

const entry = {
  requestId: 'req_0193f3a1b2c4d5e6f708192a3b',
  method: 'GET',
  route: '/v1/keys/:id',
  path: '/v1/keys/"quoted"\\back\u0001\u2028é',
  status: 404,
  durationMs: 1.23456,
};

describe('access line', () => {
  it("is pino's line shape, with request text escaped", async () => {
    const { lines, stream } = capture();
    const logger = createLogger({ level: 'info', destination: stream });
    accessLogOf(logger)(entry);
    logger.info({ other: 1 }, 'next');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    const line = JSON.parse(lines[0]!);
    expect(line).toEqual({
      level: 30,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      service: 'keyplane',
      requestId: entry.requestId,
      method: 'GET',
      route: '/v1/keys/:id',
      path: entry.path,
      status: 404,
      durationMs: 1.23,
      msg: 'request',
    });
    // The same keys, in the same order, as pino writes for its own lines.
    const other = JSON.parse(lines[1]!);
    expect(Object.keys(other).slice(0, 3)).toEqual(Object.keys(line).slice(0, 3));
  });

  it("follows the logger's level", async () => {
    const { lines, stream } = capture();
    const logger = createLogger({ level: 'warn', destination: stream });
    accessLogOf(logger)(entry);
    logger.level = 'info';
    accessLogOf(logger)(entry);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
  });
});
