import { describe, expect, it } from 'vitest';
import {
  decodeBlock,
  encodeBlocks,
  encodePackedBlocks,
  type EncodedBlock,
} from './usage-blocks.ts';
import {
  createBatchBuilder,
  dedupe,
  dropOldest,
  packedRequestIds,
  unpackBatch,
} from './usage-packed.ts';
import { compilePriceBook } from './usage-price-book.ts';
import { hourOf, parseBound, splitRange } from './usage-range.ts';
import { newId } from '../lib/ids.ts';
import { eventsOfV1 } from '../store/migrations/0016-usage-blocks-one-version.ts';
import type { UsageEvent } from './usage-types.ts';

describe('price book', () => {
  const book = compilePriceBook({
    'POST /api/video/buffer': 0.01,
    'POST /api/video/analyze': '0.05',
    'POST /api/alert': 0.1,
    'POST /v1/proxy/*': '0.001',
    'POST /v1/proxy/gemini/*': '0.002',
    '*': '0.0001',
  });

  it('prices exact endpoints in micros (seed 02 figures)', () => {
    expect(book.priceOf('POST /api/video/buffer')).toBe(10_000);
    expect(book.priceOf('POST /api/video/analyze')).toBe(50_000);
    expect(book.priceOf('POST /api/alert')).toBe(100_000);
  });

  it('matches wildcards by the longest prefix, else the default', () => {
    expect(book.priceOf('POST /v1/proxy/gemini/*')).toBe(2_000);
    expect(book.priceOf('POST /v1/proxy/exa/*')).toBe(1_000);
    expect(book.priceOf('GET /v1/health')).toBe(100);
  });

  it('is 0 without a default', () => {
    expect(compilePriceBook({ 'GET /a': 1 }).priceOf('GET /b')).toBe(0);
  });

  it('rejects bad prices naming the entry', () => {
    expect(() => compilePriceBook({ 'GET /a': '0.0000001' })).toThrow(/pricing "GET \/a"/);
    expect(() => compilePriceBook({ 'GET /a': -1 })).toThrow(/negative/);
  });
});

describe('ranges', () => {
  it('splits [from, to) into whole rollup hours and raw edges', () => {
    expect(
      splitRange(new Date('2025-10-01T10:15:00.000Z'), new Date('2025-10-01T13:30:00.000Z')),
    ).toEqual({
      rollup: { from: '2025-10-01T11:00:00.000Z', to: '2025-10-01T13:00:00.000Z' },
      raw: [
        { from: '2025-10-01T10:15:00.000Z', to: '2025-10-01T11:00:00.000Z' },
        { from: '2025-10-01T13:00:00.000Z', to: '2025-10-01T13:30:00.000Z' },
      ],
    });
  });

  it('uses rollups only for aligned bounds, raw only inside one hour', () => {
    expect(
      splitRange(new Date('2025-10-01T00:00:00.000Z'), new Date('2025-10-08T00:00:00.000Z')).raw,
    ).toEqual([]);
    expect(
      splitRange(new Date('2025-10-01T10:05:00.000Z'), new Date('2025-10-01T10:55:00.000Z')),
    ).toEqual({
      rollup: null,
      raw: [{ from: '2025-10-01T10:05:00.000Z', to: '2025-10-01T10:55:00.000Z' }],
    });
    expect(splitRange(new Date(5), new Date(5))).toEqual({ rollup: null, raw: [] });
  });

  it('parses bounds', () => {
    expect(parseBound('2025-10-01')?.toISOString()).toBe('2025-10-01T00:00:00.000Z');
    expect(parseBound('2025-10-01T12:00:00+02:00')?.toISOString()).toBe('2025-10-01T10:00:00.000Z');
    expect(parseBound('yesterday')).toBeNull();
    expect(parseBound('2025-13-45')).toBeNull();
  });

  it('rejects calendar dates that do not exist instead of rolling them into the next month', () => {
    expect(parseBound('2025-02-30')).toBeNull();
    expect(parseBound('2025-04-31')).toBeNull();
    expect(parseBound('2025-02-29T10:00:00Z')).toBeNull();
    expect(parseBound('2025-02-31T10:00:00+02:00')).toBeNull();
    expect(parseBound('2024-02-29')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseBound('2025-12-31T23:59:59.999Z')?.toISOString()).toBe('2025-12-31T23:59:59.999Z');
    expect(hourOf('2025-10-02T13:45:00.123Z')).toBe('2025-10-02T13:00:00.000Z');
  });
});

describe('rollups', () => {
  const ev = (id: string, over: Partial<UsageEvent> = {}): UsageEvent => ({
    requestId: id,
    clientId: 'c1',
    keyId: 'k1',
    endpoint: 'GET /v1/health',
    method: 'GET',
    status: 200,
    environment: 'live',
    unitPriceMicros: 10_000,
    costMicros: 10_000,
    durationUs: 100,
    createdAt: '2025-10-02T13:45:00.000Z',
    ...over,
  });

  it('folds events into one row per hour/key/endpoint/status/env/price, in a stable order', () => {
    const { rollups: rows } = encodeBlocks('use_r', [
      ev('1'),
      ev('2', { createdAt: '2025-10-02T13:59:59.999Z' }),
      ev('3', { status: 404 }),
      ev('4', { createdAt: '2025-10-02T14:00:00.000Z' }),
      ev('5', { clientId: 'c0' }),
    ]);
    expect(rows.map((r) => [r.client_id, r.hour, r.status, r.calls, r.cost_micros])).toEqual([
      ['c0', '2025-10-02T13:00:00.000Z', 200, 1, 10_000],
      ['c1', '2025-10-02T13:00:00.000Z', 200, 2, 20_000],
      ['c1', '2025-10-02T13:00:00.000Z', 404, 1, 10_000],
      ['c1', '2025-10-02T14:00:00.000Z', 200, 1, 10_000],
    ]);
  });

  it('dedupes request ids within a batch', () => {
    expect(dedupe([ev('1'), ev('2'), ev('1')]).map((e) => e.requestId)).toEqual(['1', '2']);
  });
});

describe('event blocks', () => {
  const at = Date.UTC(2025, 9, 2, 13, 59, 59, 998);
  const e = (i: number): UsageEvent => ({
    requestId: `req_${i}`,
    clientId: i % 2 ? 'client_b' : 'client_a',
    keyId: 'key_1',
    endpoint: 'GET /v1/health',
    method: 'GET',
    status: 200 + (i % 3),
    environment: 'live',
    unitPriceMicros: 1500,
    costMicros: 1500,
    durationUs: i,
    createdAt: new Date(at + i).toISOString(),
  });

  it('packs a batch per client and hour, and unpacks it exactly', () => {
    const events = Array.from({ length: 6 }, (_, i) => e(i));
    const { blocks } = encodeBlocks('use_1', events);
    // 13:59:59.998 and .999 fall in hour 13, the rest in hour 14; two clients.
    expect(blocks.map((b) => [b.client_id, b.hour, b.calls, b.seq])).toEqual([
      ['client_a', '2025-10-02T13:00:00.000Z', 1, 0],
      ['client_a', '2025-10-02T14:00:00.000Z', 2, 1],
      ['client_b', '2025-10-02T13:00:00.000Z', 1, 2],
      ['client_b', '2025-10-02T14:00:00.000Z', 2, 3],
    ]);
    expect(blocks.reduce((a, b) => a + b.cost_micros, 0)).toBe(6 * 1500);
    const back = blocks.flatMap((b) => decodeBlock(b));
    expect(back.sort((a, b) => a.requestId.localeCompare(b.requestId))).toEqual(events);
  });

  it('names each distinct key/endpoint/price once per block', () => {
    const events = Array.from({ length: 1000 }, (_, i) => ({
      ...e(i * 2),
      createdAt: new Date(at + 10).toISOString(),
    }));
    const [block] = encodeBlocks('use_2', events).blocks;
    const data = JSON.parse(block!.events) as EncodedBlock;
    expect(data.shapes).toHaveLength(1);
    expect(block!.events.split('GET /v1/health').length - 1).toBe(1);
    // Shape and cost repeat: one run each; statuses cycle 200, 202, 201 (e(i * 2)).
    expect(data.s).toEqual([0, 1000]);
    expect(data.c).toEqual([1500, 1000]);
    expect(data.st.slice(0, 6)).toEqual([200, 1, 202, 1, 201, 1]);
    // Times are kept as the step from the event before: all in one millisecond here, 8 ms
    // after the hour.
    expect(data.t).toEqual([8, ...new Array<number>(999).fill(0)]);
    expect(decodeBlock(block!)).toEqual(events);
  });

  it('refuses a block whose runs do not add up to its events', () => {
    const [block] = encodeBlocks('use_3', [e(2), e(4)]).blocks;
    const data = JSON.parse(block!.events) as EncodedBlock;
    expect(data.st).toEqual([202, 1, 201, 1]);
    data.st = [202, 1, 201, 2];
    expect(() => decodeBlock({ ...block!, events: JSON.stringify(data) })).toThrow(
      /3 status values for 2 events/,
    );
  });
});

describe('packed batches', () => {
  const call = (i: number) => ({
    requestId: `req_${i}`,
    clientId: `client_${i % 3}`,
    keyId: `key_${i % 5}`,
    endpoint: i % 2 ? 'GET /v1/health' : 'POST /v1/keys',
    method: i % 2 ? 'GET' : 'POST',
    environment: (i % 7 ? 'live' : 'test') as 'live' | 'test',
    status: 200 + (i % 4),
    unitPriceMicros: i % 7 ? 1500 : 0,
    costMicros: i % 7 ? 1500 : 0,
    durationUs: i * 3,
    atMs: Date.UTC(2025, 9, 2, 13, 0, 0) + i,
    external: i % 10 === 0,
  });

  const push = (b: ReturnType<typeof createBatchBuilder>, c: ReturnType<typeof call>) =>
    b.push(c, c.unitPriceMicros, c.costMicros, c.durationUs, c.atMs);

  const encodeOne = () => {
    const b = createBatchBuilder();
    push(b, call(1));
    return b.seal('use_one')!;
  };

  it('packs calls (growing past its first capacity) and unpacks them exactly', () => {
    const b = createBatchBuilder(4);
    for (let i = 0; i < 1000; i++) push(b, call(i));
    expect(b.size).toBe(1000);
    const packed = b.seal('use_x')!;
    expect(b.size).toBe(0);
    expect(b.seal('use_y')).toBeNull();
    expect(packed.strings.length).toBe(3 + 5 + 2 + 2 + 2);
    expect(packed.test).toBe(Math.ceil(1000 / 7));
    // What crosses to the writer thread survives structured cloning.
    const { id, events } = unpackBatch(structuredClone(packed));
    expect(id).toBe('use_x');
    expect(events).toEqual(
      Array.from({ length: 1000 }, (_, i) => {
        const { atMs, external, ...rest } = call(i);
        return {
          ...rest,
          createdAt: new Date(atMs).toISOString(),
          ...(external ? { external: true } : {}),
        };
      }),
    );
  });

  it('encodes a packed batch into blocks and rollups that give back exactly its events', () => {
    // Several clients, hours, keys, endpoints, prices and statuses, interleaved and out of order
    // (so most blocks gather events that are not consecutive in the batch), and some request ids
    // that do not fit the packed bytes.
    const b = createBatchBuilder(8);
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const base = Date.UTC(2025, 9, 2, 13, 0, 0);
    for (let i = 0; i < 3000; i++) {
      const c = {
        requestId:
          i % 97 ? `req_${i}` : `external id ${i} \u00e9 "quoted" \\ ${'x'.repeat(i % 40)}`,
        clientId: `client_${rnd(3)}`,
        keyId: `key_${rnd(4)}`,
        endpoint: rnd(2) ? 'GET /v1/health' : 'POST /v1/keys',
        method: rnd(2) ? 'GET' : 'POST',
        environment: (rnd(5) ? 'live' : 'test') as 'live' | 'test',
        status: [200, 201, 404, 429, 500][rnd(5)]!,
      };
      const price = [0, 100, 1500][rnd(3)]!;
      b.push(c, price, price, rnd(10_000), base + rnd(3) * 3_600_000 + rnd(3_600_000));
    }
    const packed = b.seal('use_p')!;
    const { blocks, rollups } = encodePackedBlocks(packed);
    expect(blocks.length).toBe(9);
    const byId = (a: UsageEvent, b: UsageEvent) => (a.requestId < b.requestId ? -1 : 1);
    const decoded = blocks.flatMap((block) => decodeBlock(block)).sort(byId);
    expect(decoded).toEqual([...unpackBatch(packed).events].sort(byId));
    // The rollups are exactly the events counted per (client, hour, key, endpoint, status, …).
    const want = new Map<string, [number, number, number]>();
    for (const e of decoded) {
      const k = [
        e.clientId,
        hourOf(e.createdAt),
        e.keyId,
        e.endpoint,
        e.status,
        e.environment,
        e.unitPriceMicros,
      ].join('|');
      const [calls, cost, dur] = want.get(k) ?? [0, 0, 0];
      want.set(k, [calls + 1, cost + e.costMicros, dur + e.durationUs]);
    }
    expect(
      new Map(
        rollups.map((r) => [
          [
            r.client_id,
            r.hour,
            r.key_id,
            r.endpoint,
            r.status,
            r.environment,
            r.unit_price_micros,
          ].join('|'),
          [r.calls, r.cost_micros, r.duration_us],
        ]),
      ),
    ).toEqual(want);
    // Unpacked first (the path of reported events), the same batch encodes the same.
    expect(encodeBlocks('use_p', unpackBatch(packed).events)).toEqual({ blocks, rollups });
  });

  it('reads version 1 only in its migration (0016), and refuses it elsewhere', () => {
    const events = JSON.stringify({
      v: 1,
      shapes: [['key_1', 'GET /v1/health', 'GET', 'live', 1500]],
      id: ['req_a', 'an id with spaces'],
      s: [0, 0],
      st: [200, 429],
      t: [5, 3_599_999],
      d: [120, 80],
      c: [1500, 0],
    });
    const row = { client_id: 'client_a', hour: '2025-10-02T13:00:00.000Z', events };
    expect(() => decodeBlock(row)).toThrow(/unknown version 1/);
    expect(eventsOfV1({ ...row, batch_id: 'use_v1', seq: 0 })).toEqual([
      {
        requestId: 'req_a',
        clientId: 'client_a',
        keyId: 'key_1',
        endpoint: 'GET /v1/health',
        method: 'GET',
        status: 200,
        environment: 'live',
        unitPriceMicros: 1500,
        costMicros: 1500,
        durationUs: 120,
        createdAt: '2025-10-02T13:00:00.005Z',
      },
      {
        requestId: 'an id with spaces',
        clientId: 'client_a',
        keyId: 'key_1',
        endpoint: 'GET /v1/health',
        method: 'GET',
        status: 429,
        environment: 'live',
        unitPriceMicros: 1500,
        costMicros: 0,
        durationUs: 80,
        createdAt: '2025-10-02T13:59:59.999Z',
      },
    ]);
  });

  it('refuses a block whose request ids do not match its events', () => {
    const [event] = unpackBatch(encodeOne()).events;
    const block = encodeBlocks('use_q', [event!]).blocks[0]!;
    const data = JSON.parse(block.events) as { ids: string };
    data.ids = data.ids.slice(1);
    expect(() => decodeBlock({ ...block, events: JSON.stringify(data) })).toThrow(/id characters/);
  });

  it('keeps every request id exactly: short, 32 bytes, longer, spaces, non-ASCII, reused slots', () => {
    const ids = [
      newId('req'),
      'a',
      'x'.repeat(32),
      'y'.repeat(33),
      'with space',
      'tab\there',
      'caf\u00e9-\u65e5\u672c',
      '\u{1f600}',
      '',
      'req_' + 'f'.repeat(28),
    ];
    const b = createBatchBuilder(2);
    // The builder reuses its arrays after a seal: a long id before must not leak into a short one.
    for (const id of ['z'.repeat(32), 'q'.repeat(40)]) push(b, { ...call(1), requestId: id });
    b.seal('use_0');
    for (const [i, id] of ids.entries()) push(b, { ...call(i), requestId: id });
    const packed = structuredClone(b.seal('use_1')!);
    expect(packedRequestIds(packed)).toEqual(ids);
    expect(unpackBatch(packed).events.map((e) => e.requestId)).toEqual(ids);
    // Only the ids that do not fit as printable ASCII are kept as strings.
    expect(packed.otherIds.map(([i]) => i)).toEqual([3, 4, 5, 6, 7]);
  });

  it('drops the oldest events of a batch and keeps its id', () => {
    const b = createBatchBuilder();
    for (let i = 0; i < 20; i++) push(b, call(i));
    const rest = dropOldest(b.seal('use_z')!, 15);
    expect(rest.id).toBe('use_z');
    expect(unpackBatch(rest).events.map((e) => e.requestId)).toEqual(
      [15, 16, 17, 18, 19].map((i) => `req_${i}`),
    );
  });
});
