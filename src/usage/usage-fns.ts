import { Buffer } from 'node:buffer';
import { AppError } from '../lib/errors.ts';
import { toMicros } from '../lib/money.ts';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { UsageBatch, UsageBlocksTable, UsageEvent, UsageHourlyTable } from './usage-types.ts';

const HOUR_MS = 3_600_000;

/**
 * The price book from the config file (`pricing`): `"METHOD /route-template"` → price in
 * currency units. An entry ending in `*` (`"POST /v1/proxy/gemini/*"`) matches every endpoint
 * it is a prefix of (longest wins); `"*"` is the default; without one a call costs 0.
 */
export interface PriceBook {
  /** Unit price of one call, in micros. */
  priceOf(endpoint: string): number;
  /** The parsed book, for display. */
  entries: Array<{ endpoint: string; priceMicros: number }>;
}

export function compilePriceBook(pricing: Record<string, number | string>): PriceBook {
  const exact = new Map<string, number>();
  const prefixes: Array<[string, number]> = [];
  let fallback = 0;
  const entries: PriceBook['entries'] = [];
  for (const [endpoint, price] of Object.entries(pricing)) {
    let micros: number;
    try {
      micros = toMicros(price);
    } catch (err) {
      throw new RangeError(`pricing "${endpoint}": ${(err as Error).message}`, { cause: err });
    }
    if (micros < 0) throw new RangeError(`pricing "${endpoint}": must not be negative`);
    entries.push({ endpoint, priceMicros: micros });
    if (endpoint === '*') fallback = micros;
    else if (endpoint.endsWith('*')) prefixes.push([endpoint.slice(0, -1), micros]);
    else exact.set(endpoint, micros);
  }
  prefixes.sort((a, b) => b[0].length - a[0].length);
  // Endpoints are route templates, so there are few of them: memoize every answer.
  const cache = new Map<string, number>();
  return {
    entries,
    priceOf(endpoint) {
      let p = cache.get(endpoint);
      if (p !== undefined) return p;
      p = exact.get(endpoint);
      if (p === undefined) p = prefixes.find(([prefix]) => endpoint.startsWith(prefix))?.[1];
      if (p === undefined) p = fallback;
      if (cache.size < 10_000) cache.set(endpoint, p);
      return p;
    },
  };
}

/** `2025-10-02T13:45:00.123Z` → `2025-10-02T13:00:00.000Z`. */
export function hourOf(iso: string): string {
  return `${iso.slice(0, 13)}:00:00.000Z`;
}

export function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

export function ceilHour(ms: number): number {
  return Math.ceil(ms / HOUR_MS) * HOUR_MS;
}

/**
 * Splits `[from, to)` into the whole hours the rollups answer exactly and the partial hours at
 * both edges, which must be read from the raw events.
 */
export function splitRange(
  from: Date,
  to: Date,
): {
  rollup: { from: string; to: string } | null;
  raw: Array<{ from: string; to: string }>;
} {
  const f = from.getTime();
  const t = to.getTime();
  if (t <= f) return { rollup: null, raw: [] };
  const a = ceilHour(f);
  const b = floorHour(t);
  if (a >= b) return { rollup: null, raw: [{ from: from.toISOString(), to: to.toISOString() }] };
  const raw: Array<{ from: string; to: string }> = [];
  if (f < a) raw.push({ from: from.toISOString(), to: new Date(a).toISOString() });
  if (b < t) raw.push({ from: new Date(b).toISOString(), to: to.toISOString() });
  return { rollup: { from: new Date(a).toISOString(), to: new Date(b).toISOString() }, raw };
}

/**
 * A block's events as stored in `usage_blocks.events` (JSON): columns (one entry per event, or
 * runs of equal values) and the distinct (key, endpoint, method, environment, unit price)
 * "shapes" they index, so a block of thousands of calls to a few endpoints stays small.
 *
 * Version 2 is what the writer makes cheaply from a packed batch: the request ids as one string
 * of ID_WIDTH characters per event, space-padded (copied from the batch's bytes in one piece
 * instead of a string per event), and the columns that mostly repeat (shape, status, cost) as
 * runs. Version 1 (an array per column) is still read: blocks are never rewritten.
 */
export type EncodedBlock = EncodedBlockV2 | EncodedBlockV1;

type Shape = [keyId: string, endpoint: string, method: string, env: KeyEnvironment, unit: number];

export interface EncodedBlockV2 {
  v: 2;
  shapes: Shape[];
  /** Request ids, ID_WIDTH characters each, padded with spaces (all spaces: see `other`). */
  ids: string;
  /** `[index in this block, request id]` for the ids that are not printable ASCII of ≤ 32. */
  other?: Array<[number, string]>;
  /** Runs `[shape index, count, shape index, count, …]`. */
  s: number[];
  /** Runs of HTTP status, as `s`. */
  st: number[];
  /** Runs of cost in micros, as `s`. */
  c: number[];
  /** Per event, milliseconds after the block's previous event (the first: after its hour). */
  t: number[];
  /** Per event, duration in microseconds. */
  d: number[];
}

export interface EncodedBlockV1 {
  v: 1;
  /** `[keyId, endpoint, method, environment, unitPriceMicros]` */
  shapes: Shape[];
  /** Request ids. */
  id: string[];
  /** Index into `shapes`. */
  s: number[];
  /** HTTP status. */
  st: number[];
  /** Milliseconds after the block's hour. */
  t: number[];
  /** Duration in microseconds. */
  d: number[];
  /** Cost in micros. */
  c: number[];
}

/** Appends `value` to runs `[value, count, …]`. */
function pushRun(runs: number[], value: number): void {
  const n = runs.length;
  if (n && runs[n - 2] === value) runs[n - 1]!++;
  else runs.push(value, 1);
}

/** Runs `[value, count, …]` of `n` values in all, expanded. */
function expandRuns(runs: readonly number[], n: number, column: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs.length; i += 2) {
    for (let k = 0; k < runs[i + 1]!; k++) out.push(runs[i]!);
  }
  if (out.length !== n)
    throw new Error(`usage block: ${out.length} ${column} values for ${n} events`);
  return out;
}

/** One (client, hour) block of a batch being encoded, with its rollups. */
interface OpenBlock {
  row: UsageBlocksTable;
  data: Omit<EncodedBlockV2, 'v' | 'ids' | 'other'>;
  /** The time of the block's last event (ms), for `t`. */
  lastMs: number;
  /** Index in the batch of each event of the block, in order. */
  at: number[];
  /** Shape lookup key → index into `data.shapes`. */
  shapes: Map<string, number>;
  /**
   * Per shape, its rollup group: the shapes of one (key, endpoint, environment, unit price),
   * which differ only in method, fold into the same rollup rows (the method is not in the
   * rollup's key, and one upsert must not name a row twice: PostgreSQL refuses it).
   */
  groupOf: number[];
  /** Rollup group lookup key → group index. */
  groups: Map<string, number>;
  /** `group * 1000 + status` → the rollup row. */
  rollups: Map<number, UsageHourlyTable>;
  /** The last event's rollup key and row: consecutive calls mostly share them. */
  lastRk: number;
  lastRollup: UsageHourlyTable | null;
  hourMs: number;
}

function openBlock(batchId: string, clientId: string, hour: string, hourMs: number): OpenBlock {
  return {
    row: {
      batch_id: batchId,
      seq: 0,
      client_id: clientId,
      hour,
      calls: 0,
      cost_micros: 0,
      events: '',
    },
    data: { shapes: [], s: [], st: [], c: [], t: [], d: [] },
    lastMs: hourMs,
    at: [],
    shapes: new Map(),
    groupOf: [],
    groups: new Map(),
    rollups: new Map(),
    lastRk: -1,
    lastRollup: null,
    hourMs,
  };
}

/** The shape's index in the block, added (with its rollup group) if new. */
function shapeIndex(b: OpenBlock, tuple: Shape): number {
  const sk = tuple.join('\u0000');
  const known = b.shapes.get(sk);
  if (known !== undefined) return known;
  const shape = b.data.shapes.length;
  b.data.shapes.push(tuple);
  b.shapes.set(sk, shape);
  const [keyId, endpoint, , environment, unitPriceMicros] = tuple;
  const gk = `${keyId}\u0000${endpoint}\u0000${environment}\u0000${unitPriceMicros}`;
  let group = b.groups.get(gk);
  if (group === undefined) {
    group = b.groups.size;
    b.groups.set(gk, group);
  }
  b.groupOf.push(group);
  return shape;
}

/** Appends one event (its shape already resolved) to a block and folds it into the rollups. */
function addEvent(
  b: OpenBlock,
  index: number,
  shape: number,
  status: number,
  atMs: number,
  durationUs: number,
  costMicros: number,
): void {
  const d = b.data;
  b.at.push(index);
  pushRun(d.s, shape);
  pushRun(d.st, status);
  pushRun(d.c, costMicros);
  d.t.push(atMs - b.lastMs);
  b.lastMs = atMs;
  d.d.push(durationUs);
  b.row.calls++;
  b.row.cost_micros += costMicros;
  const rk = b.groupOf[shape]! * 1000 + status;
  const r = rk === b.lastRk ? b.lastRollup : b.rollups.get(rk);
  if (r) {
    b.lastRk = rk;
    b.lastRollup = r;
    r.calls += 1;
    r.cost_micros += costMicros;
    r.duration_us += durationUs;
  } else {
    const [keyId, endpoint, , environment, unitPriceMicros] = d.shapes[shape]!;
    b.rollups.set(rk, {
      client_id: b.row.client_id,
      hour: b.row.hour,
      key_id: keyId,
      endpoint,
      status,
      environment,
      unit_price_micros: unitPriceMicros,
      calls: 1,
      cost_micros: costMicros,
      duration_us: durationUs,
    });
  }
}

/** A block's request ids as EncodedBlockV2 keeps them, copied from the batch's bytes. */
function blockIds(
  p: PackedBatch,
  at: readonly number[],
  others: Map<number, string> | null,
): Pick<EncodedBlockV2, 'ids' | 'other'> {
  const bytes = Buffer.from(p.idBytes.buffer, p.idBytes.byteOffset, p.idBytes.byteLength);
  const n = at.length;
  let ids: string;
  if (at[n - 1]! - at[0]! === n - 1) {
    // The block's events are consecutive in the batch (one client and hour: the usual case).
    ids = bytes.toString('latin1', at[0]! * ID_WIDTH, (at[0]! + n) * ID_WIDTH);
  } else {
    const out = Buffer.allocUnsafe(n * ID_WIDTH);
    for (let i = 0; i < n; i++)
      bytes.copy(out, i * ID_WIDTH, at[i]! * ID_WIDTH, (at[i]! + 1) * ID_WIDTH);
    ids = out.toString('latin1');
  }
  if (!others) return { ids };
  const other: Array<[number, string]> = [];
  for (let i = 0; i < n; i++) {
    const id = others.get(at[i]!);
    if (id !== undefined) other.push([i, id]);
  }
  return other.length ? { ids, other } : { ids };
}

/** The blocks as rows (sorted by client and hour, numbered) and their rollups, sorted. */
function closeBlocks(
  p: PackedBatch,
  blocks: Map<string, OpenBlock>,
): {
  blocks: UsageBlocksTable[];
  rollups: UsageHourlyTable[];
} {
  const sorted = [...blocks.entries()].sort((a, b) => compareText(a[0], b[0])).map(([, b]) => b);
  const others = p.otherIds.length ? new Map(p.otherIds) : null;
  return {
    blocks: sorted.map((b, seq) => {
      const data: EncodedBlockV2 = { v: 2, ...b.data, ...blockIds(p, b.at, others) };
      return { ...b.row, seq, events: JSON.stringify(data) };
    }),
    rollups: sorted.flatMap((b) => [...b.rollups.values()].sort(compareRollups)),
  };
}

/**
 * Packs a batch's events into one block per (client, hour), and folds them into rollup
 * increments, one per (client, hour, key, endpoint, status, environment, unit price), in the
 * same pass: a rollup row is a block's (shape, status). Both come out sorted by their key, so
 * concurrent flushes from several nodes lock rows in the same order (no deadlocks). `seq`
 * numbers the blocks within the batch.
 */
export function encodeBlocks(
  batchId: string,
  events: readonly UsageEvent[],
): { blocks: UsageBlocksTable[]; rollups: UsageHourlyTable[] } {
  const b = createBatchBuilder(Math.max(1, events.length));
  // Calls of the same millisecond share one ISO string (unpackBatch): parse it once.
  let lastIso = '';
  let lastMs = 0;
  for (const e of events) {
    if (e.createdAt !== lastIso) {
      lastIso = e.createdAt;
      lastMs = Date.parse(lastIso);
    }
    b.push(e, e.unitPriceMicros, e.costMicros, e.durationUs, lastMs);
  }
  const packed = b.seal(batchId);
  return packed ? encodePackedBlocks(packed) : { blocks: [], rollups: [] };
}

/**
 * `encodeBlocks` straight from a packed batch, without an object per event: what the usage
 * writer does with Keyplane's own calls (about half of its work per event was unpacking them).
 */
export function encodePackedBlocks(p: PackedBatch): {
  blocks: UsageBlocksTable[];
  rollups: UsageHourlyTable[];
} {
  const blocks = new Map<string, OpenBlock>();
  let b: OpenBlock | undefined;
  let client = -1;
  let hourMs = -1;
  // Dimension indexes and price of the previous event: most events repeat them.
  let key = -1;
  let endpoint = -1;
  let method = -1;
  let env = -1;
  let price = -1;
  let shape = -1;
  for (let i = 0; i < p.n; i++) {
    const d = i * DIMS;
    const m = i * NUMS;
    const atMs = p.nums[m + 4]!;
    const h = floorHour(atMs);
    if (!b || p.dims[d] !== client || h !== hourMs) {
      client = p.dims[d]!;
      hourMs = h;
      const clientId = p.strings[client]!;
      const hour = new Date(h).toISOString();
      const bk = `${clientId}\u0000${hour}`;
      b = blocks.get(bk);
      if (!b) {
        b = openBlock(p.id, clientId, hour, h);
        blocks.set(bk, b);
      }
      key = -1;
    }
    const unit = p.nums[m + 1]!;
    if (
      key !== p.dims[d + 1] ||
      endpoint !== p.dims[d + 2] ||
      method !== p.dims[d + 3] ||
      env !== p.dims[d + 4] ||
      price !== unit
    ) {
      key = p.dims[d + 1]!;
      endpoint = p.dims[d + 2]!;
      method = p.dims[d + 3]!;
      env = p.dims[d + 4]!;
      price = unit;
      const tuple: Shape = [
        p.strings[key]!,
        p.strings[endpoint]!,
        p.strings[method]!,
        p.strings[env] as KeyEnvironment,
        unit,
      ];
      shape = shapeIndex(b, tuple);
    }
    addEvent(b, i, shape, p.nums[m]!, atMs, p.nums[m + 3]!, p.nums[m + 2]!);
  }
  return closeBlocks(p, blocks);
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Within one (client, hour): by key, endpoint, status, environment, unit price. */
function compareRollups(a: UsageHourlyTable, b: UsageHourlyTable): number {
  return (
    compareText(a.key_id, b.key_id) ||
    compareText(a.endpoint, b.endpoint) ||
    a.status - b.status ||
    compareText(a.environment, b.environment) ||
    a.unit_price_micros - b.unit_price_micros
  );
}

/** A stored block's columns, one entry per event, whatever its version. */
function storedColumns(data: EncodedBlock): {
  ids: string[];
  s: readonly number[];
  st: readonly number[];
  c: readonly number[];
  /** Milliseconds after the block's hour. */
  t: readonly number[];
  d: readonly number[];
} {
  if (data.v === 1) return { ...data, ids: data.id };
  const n = data.d.length;
  if (data.ids.length !== n * ID_WIDTH)
    throw new Error(`usage block: ${data.ids.length} id characters for ${n} events`);
  if (data.t.length !== n) throw new Error(`usage block: ${data.t.length} times for ${n} events`);
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const slot = data.ids.slice(i * ID_WIDTH, (i + 1) * ID_WIDTH);
    const end = slot.indexOf(' ');
    ids[i] = end < 0 ? slot : slot.slice(0, end);
  }
  for (const [i, id] of data.other ?? []) ids[i] = id;
  const t = new Array<number>(n);
  let at = 0;
  for (let i = 0; i < n; i++) t[i] = at += data.t[i]!;
  return {
    ids,
    s: expandRuns(data.s, n, 'shape'),
    st: expandRuns(data.st, n, 'status'),
    c: expandRuns(data.c, n, 'cost'),
    t,
    d: data.d,
  };
}

/** The events of one stored block, as they were recorded. */
export function decodeBlock(
  row: Pick<UsageBlocksTable, 'client_id' | 'hour' | 'events'>,
): UsageEvent[] {
  const data = JSON.parse(row.events) as EncodedBlock;
  const { ids, s, st, c, t, d } = storedColumns(data);
  const hourMs = Date.parse(row.hour);
  const out: UsageEvent[] = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const [keyId, endpoint, method, environment, unitPriceMicros] = data.shapes[s[i]!]!;
    out[i] = {
      requestId: ids[i]!,
      clientId: row.client_id,
      keyId,
      endpoint,
      method,
      status: st[i]!,
      environment,
      unitPriceMicros,
      costMicros: c[i]!,
      durationUs: d[i]!,
      createdAt: new Date(hourMs + t[i]!).toISOString(),
    };
  }
  return out;
}

/** Drops repeated request ids inside one batch (storage skips those of earlier batches). */
export function dedupe(events: readonly UsageEvent[]): UsageEvent[] {
  const seen = new Set<string>();
  const out: UsageEvent[] = [];
  for (const e of events) {
    if (seen.has(e.requestId)) continue;
    seen.add(e.requestId);
    out.push(e);
  }
  return out;
}

/**
 * Parses a `from`/`to` query bound: a full ISO timestamp, or a date (`2025-10-01` = midnight
 * UTC). Returns null when it is neither.
 */
export function parseBound(text: string): Date | null {
  // `new Date` rolls impossible days over (2025-02-30 → March 2): refuse them instead.
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const [y, m, d] = [text.slice(0, 4), text.slice(5, 7), text.slice(8, 10)].map(Number);
    const day = new Date(Date.UTC(y!, m! - 1, d!));
    if (day.getUTCMonth() !== m! - 1 || day.getUTCDate() !== d) return null;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = new Date(`${text}T00:00:00.000Z`);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/.test(text))
    return null;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? null : d;
}

const DAY_MS = 86_400_000;

/**
 * A query's `[from, to)`: `to` defaults to now, `from` to 30 days before `to`. Throws a
 * validation error for an unreadable bound or `to` before `from`.
 */
export function resolveRange(
  q: { from?: string; to?: string },
  now: Date,
): { from: string; to: string } {
  const to = q.to ? parseBound(q.to) : now;
  const from = q.from ? parseBound(q.from) : to && new Date(to.getTime() - 30 * DAY_MS);
  if (!from || !to)
    throw new AppError(
      'validation_failed',
      'from/to must be an ISO date (2025-10-01) or timestamp',
    );
  if (to.getTime() < from.getTime())
    throw new AppError('validation_failed', '"to" must not be before "from"');
  return { from: from.toISOString(), to: to.toISOString() };
}

/**
 * Queued events before a flush, packed: a few typed arrays, the request ids as bytes, and the
 * few distinct client/key/endpoint/method/environment strings once each. Keeping thousands of
 * queued calls as objects cost the request thread garbage-collector time (they outlive the
 * young generation) and ~1 µs each to structured-clone to the writer thread; packed, a batch
 * crosses as a handful of memcpys.
 *
 * Request ids are copied into `idBytes` rather than kept as strings: a string per queued call
 * lives until the flush, so each one was copied by a scavenge and then promoted to the old
 * generation: in an ablation, keeping the id strings alone cost 1.5–4% of the hot path's
 * throughput. With the bytes, metering reads the same as when every call carries one constant
 * id (nothing retained).
 */
export interface PackedBatch {
  id: string;
  n: number;
  /** Distinct strings the `dims` index. */
  strings: string[];
  /** Per event: client, key, endpoint, method, environment (indexes into `strings`). */
  dims: Uint32Array;
  /** Per event: status, unit price, cost, duration (µs), time (ms since the epoch). */
  nums: Float64Array;
  /**
   * Per event, ID_WIDTH bytes: the request id in printable ASCII without spaces, padded with
   * spaces (stored blocks keep these bytes as they are). Ids that do not fit (longer, or other
   * characters) are in `otherIds` and their slot is all spaces.
   */
  idBytes: Uint8Array;
  /** `[event index, request id]` for the ids not in `idBytes` (rare: external reporters). */
  otherIds: Array<[number, string]>;
  /** Indexes of external events (see UsageEvent.external). */
  external: number[];
  /** How many events are of test keys (for the metrics). */
  test: number;
}

const DIMS = 5;
const NUMS = 5;
/** Bytes per request id in a packed batch: Keyplane's own (`req_` + 24 hex digits) fit. */
const ID_WIDTH = 32;
/** What pads a request id to ID_WIDTH bytes: a space, which no packed id contains. */
const ID_PAD = 0x20;

/** The request ids of a packed batch, in event order. */
export function packedRequestIds(p: PackedBatch): string[] {
  const bytes = Buffer.from(p.idBytes.buffer, p.idBytes.byteOffset, p.idBytes.byteLength);
  const out = new Array<string>(p.n);
  for (let i = 0; i < p.n; i++) {
    const start = i * ID_WIDTH;
    let end = start;
    while (end < start + ID_WIDTH && bytes[end] !== ID_PAD) end++;
    out[i] = bytes.toString('latin1', start, end);
  }
  for (const [i, id] of p.otherIds) out[i] = id;
  return out;
}

/** What the builder reads of a call (a CallRecord or a UsageEvent; no object is kept per call). */
export interface PackedCall {
  requestId: string;
  clientId: string;
  keyId: string;
  endpoint: string;
  method: string;
  environment: KeyEnvironment;
  status: number;
  external?: boolean;
}

/** A copy of `a` in a longer array of the same kind (the rest zero). */
function widened<A extends Uint32Array | Float64Array | Uint8Array>(a: A, length: number): A {
  const w = new (a.constructor as new (length: number) => A)(length);
  w.set(a);
  return w;
}

/** Fills a packed batch (growing as calls arrive); `seal` hands it over, trimmed. */
export function createBatchBuilder(initialCapacity = 256) {
  let n = 0;
  let capacity = initialCapacity;
  let strings: string[] = [];
  let index = new Map<string, number>();
  let dims = new Uint32Array(capacity * DIMS);
  let nums = new Float64Array(capacity * NUMS);
  let idBytes = new Uint8Array(capacity * ID_WIDTH);
  const grow = () => {
    capacity *= 2;
    dims = widened(dims, capacity * DIMS);
    nums = widened(nums, capacity * NUMS);
    idBytes = widened(idBytes, capacity * ID_WIDTH);
  };
  let otherIds: Array<[number, string]> = [];
  let external: number[] = [];
  let test = 0;
  // Consecutive calls mostly share their strings (the same objects): look up only changes.
  const lastValue: string[] = new Array(DIMS).fill('');
  const lastIndex: number[] = new Array(DIMS).fill(-1);
  const intern = (column: number, s: string) => {
    if (s === lastValue[column] && lastIndex[column]! >= 0) return lastIndex[column]!;
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    lastValue[column] = s;
    lastIndex[column] = i;
    return i;
  };
  return {
    get size() {
      return n;
    },
    push(
      c: PackedCall,
      unitPriceMicros: number,
      costMicros: number,
      durationUs: number,
      atMs: number,
    ): void {
      if (n === capacity) grow();
      const d = n * DIMS;
      dims[d] = intern(0, c.clientId);
      dims[d + 1] = intern(1, c.keyId);
      dims[d + 2] = intern(2, c.endpoint);
      dims[d + 3] = intern(3, c.method);
      dims[d + 4] = intern(4, c.environment);
      const m = n * NUMS;
      nums[m] = c.status;
      nums[m + 1] = unitPriceMicros;
      nums[m + 2] = costMicros;
      nums[m + 3] = durationUs;
      nums[m + 4] = atMs;
      const id = c.requestId;
      const at = n * ID_WIDTH;
      let k = 0;
      if (id.length <= ID_WIDTH) {
        for (; k < id.length; k++) {
          const ch = id.charCodeAt(k);
          if (ch < 0x21 || ch > 0x7e) break;
          idBytes[at + k] = ch;
        }
      }
      if (k < id.length) {
        // Does not fit: kept as a string, its slot all spaces.
        otherIds.push([n, id]);
        k = 0;
      }
      for (; k < ID_WIDTH; k++) idBytes[at + k] = ID_PAD;
      if (c.external) external.push(n);
      if (c.environment === 'test') test++;
      n++;
    },
    /** The packed batch so far (null when empty); the builder starts over. */
    seal(id: string): PackedBatch | null {
      if (!n) return null;
      const out: PackedBatch = {
        id,
        n,
        strings,
        dims: dims.slice(0, n * DIMS),
        nums: nums.slice(0, n * NUMS),
        idBytes: idBytes.slice(0, n * ID_WIDTH),
        otherIds,
        external,
        test,
      };
      n = 0;
      strings = [];
      index = new Map();
      otherIds = [];
      external = [];
      test = 0;
      lastIndex.fill(-1);
      return out;
    },
  };
}

/** The oldest `count` events dropped from a packed batch (same id: see the usage service). */
export function dropOldest(p: PackedBatch, count: number): PackedBatch {
  const keep = unpackBatch(p).events.slice(count);
  const b = createBatchBuilder(Math.max(1, keep.length));
  for (const e of keep)
    b.push(e, e.unitPriceMicros, e.costMicros, e.durationUs, Date.parse(e.createdAt));
  return (
    b.seal(p.id) ?? {
      ...p,
      n: 0,
      idBytes: new Uint8Array(0),
      otherIds: [],
      external: [],
      test: 0,
    }
  );
}

export function unpackBatch(p: PackedBatch): UsageBatch {
  const ids = packedRequestIds(p);
  const events: UsageEvent[] = new Array(p.n);
  let lastMs = -1;
  let lastIso = '';
  for (let i = 0; i < p.n; i++) {
    const d = i * DIMS;
    const m = i * NUMS;
    const ms = p.nums[m + 4]!;
    // Calls of the same millisecond share one ISO string.
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    events[i] = {
      requestId: ids[i]!,
      clientId: p.strings[p.dims[d]!]!,
      keyId: p.strings[p.dims[d + 1]!]!,
      endpoint: p.strings[p.dims[d + 2]!]!,
      method: p.strings[p.dims[d + 3]!]!,
      environment: p.strings[p.dims[d + 4]!] as KeyEnvironment,
      status: p.nums[m]!,
      unitPriceMicros: p.nums[m + 1]!,
      costMicros: p.nums[m + 2]!,
      durationUs: p.nums[m + 3]!,
      createdAt: lastIso,
    };
  }
  for (const i of p.external) events[i]!.external = true;
  return { id: p.id, events };
}
