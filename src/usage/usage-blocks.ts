import { Buffer } from 'node:buffer';
import type { KeyEnvironment } from '../lib/key-format.ts';
import { createBatchBuilder, DIMS, ID_WIDTH, NUMS, type PackedBatch } from './usage-packed.ts';
import { floorHour } from './usage-range.ts';
import type { UsageBlocksTable, UsageEvent, UsageHourlyTable } from './usage-types.ts';

/**
 * The stored format of usage events — the one version there is (`v: 2`).
 *
 * Each flush batch is stored as one `usage_blocks` row per (client, hour) it touches:
 * `batch_id` and `seq` (the block's number within the batch) identify it, `client_id` and
 * `hour` (`YYYY-MM-DDTHH:00:00.000Z`, every event of the block lies in it) say whose and when,
 * `calls` and `cost_micros` are its totals, and `events` is this JSON, which holds every field
 * of every call:
 *
 * - `shapes`: the distinct `[keyId, endpoint, method, environment, unitPriceMicros]` of the
 *   block, each once: thousands of calls to a few endpoints name them a few times.
 * - `ids`: the request ids, 32 characters each, space-padded, one string for the whole block
 *   (copied from the queue's bytes in one piece); an id that is not printable ASCII of at most
 *   32 characters has an all-space slot and is in `other` as `[index in block, id]`.
 * - `s`, `st`, `c`: shape index, HTTP status and cost in micros, as runs `[value, count, …]`
 *   (they mostly repeat).
 * - `t`: per event, milliseconds after the block's previous event (the first: after `hour`).
 * - `d`: per event, the call's duration in microseconds.
 *
 * Why not a row per call: the writer spends ~0.25 µs an event on this (encoding and storing)
 * against ~8 µs with a row and its index entries per call, and ingestion on PostgreSQL measured
 * about half with plain rows (README, "Fast at volume"). Nothing reads this JSON but
 * `decodeBlock`: queries read the hourly rollups, and the raw events as rows come from
 * `usage.events` (`keyplane usage events`). Migration `0016` rewrote the blocks of the earlier version 1.
 * The migrations keep their own frozen copy of this version (`store/migrations/usage-block-v2.ts`):
 * a new version is a new migration, and the old ones keep writing what they wrote.
 */
export interface EncodedBlock {
  v: 2;
  shapes: Shape[];
  ids: string;
  other?: Array<[number, string]>;
  s: number[];
  st: number[];
  c: number[];
  t: number[];
  d: number[];
}

type Shape = [keyId: string, endpoint: string, method: string, env: KeyEnvironment, unit: number];

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
  data: Omit<EncodedBlock, 'v' | 'ids' | 'other'>;
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

/** A block's request ids as EncodedBlock keeps them, copied from the batch's bytes. */
function blockIds(
  p: PackedBatch,
  at: readonly number[],
  others: Map<number, string> | null,
): Pick<EncodedBlock, 'ids' | 'other'> {
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
      const data: EncodedBlock = { v: 2, ...b.data, ...blockIds(p, b.at, others) };
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

/** A stored block's columns, one entry per event. */
function storedColumns(data: EncodedBlock): {
  ids: string[];
  s: readonly number[];
  st: readonly number[];
  c: readonly number[];
  /** Milliseconds after the block's hour. */
  t: readonly number[];
  d: readonly number[];
} {
  if (data.v !== 2) throw new Error(`usage block: unknown version ${String(data.v)}`);
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
