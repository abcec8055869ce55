import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.ts';
import { accessLogOf, bufferedDestination, createLogger } from './logger.ts';

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

describe('buffered destination', () => {
  const fileOf = (label: string) =>
    join(mkdtempSync(join(tmpdir(), `kp-log-${label}-`)), 'out.log');
  const size = (file: string) => {
    try {
      return readFileSync(file, 'utf8').length;
    } catch {
      return 0;
    }
  };

  it('writes every line, in order, 4 KiB at a time, and the rest on flush', async () => {
    const file = fileOf('order');
    // No periodic flush during the test: what reaches the file comes from the 4 KiB rule alone.
    const dest = bufferedDestination(file, { flushEveryMs: 3_600_000 });
    const logger = createLogger({ level: 'info', destination: dest });
    const access = accessLogOf(logger);
    await once(dest as unknown as NodeJS.EventEmitter, 'ready'); // the file opens asynchronously
    for (let i = 0; i < 100; i++) {
      if (i % 10 === 0) logger.info({ i }, 'between');
      access({ ...entry, requestId: `req_${i}` });
    }
    // Past 4 KiB some lines are on their way; the last ones wait for a flush.
    // SonicBoom's flushSync does not wait for an asynchronous write in flight (it writes the rest
    // ahead of it), so the test waits for the 4 KiB writes to land before flushing.
    const writing = () => (dest as unknown as { _writing: boolean })._writing;
    await waitFor(() => size(file) > 4096 && !writing(), 'the first 4 KiB in the file');
    const early = readFileSync(file, 'utf8');
    expect(early.split('\n').length).toBeLessThan(111);
    (dest as unknown as { flushSync(): void }).flushSync();
    // Nothing is left in flight: an exiting process, which flushes this way, loses no line.
    expect(writing()).toBe(false);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(110);
    const order = lines.map((l) => {
      const o = JSON.parse(l) as { requestId?: string; i?: number };
      return o.requestId ?? `i${o.i}`;
    });
    const expected: string[] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 10 === 0) expected.push(`i${i}`);
      expected.push(`req_${i}`);
    }
    expect(order).toEqual(expected);
    rmSync(dirname(file), { recursive: true, force: true });
  });

  it('writes what is buffered at least every flushEveryMs', async () => {
    const file = fileOf('timer');
    const dest = bufferedDestination(file, { flushEveryMs: 20 });
    const logger = createLogger({ level: 'info', destination: dest });
    await once(dest as unknown as NodeJS.EventEmitter, 'ready');
    logger.info({ n: 1 }, 'one short line, far below 4 KiB');
    const text = await waitFor(() => size(file) > 0 && readFileSync(file, 'utf8'), 'the timer');
    expect(JSON.parse(text.trim())).toMatchObject({ n: 1, msg: 'one short line, far below 4 KiB' });
    (dest as unknown as { end(): void }).end();
    rmSync(dirname(file), { recursive: true, force: true });
  });
});
