import { Buffer } from 'node:buffer';
import type { KeyEnvironment } from '../lib/key-format.ts';
import type { UsageBatch, UsageEvent } from './usage-types.ts';

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
  /**
   * Other modules' writes that commit with this batch, after its id is claimed (so exactly
   * once): budgets' settlements of the calls it meters (see UsageQueueDeps.ledgerWrites).
   */
  also?: BatchStatement[];
}

/** One SQL statement and its parameters, compiled by the module whose tables it writes. */
export type BatchStatement = [sql: string, parameters: unknown[]];

export const DIMS = 5;
export const NUMS = 5;
/** Bytes per request id in a packed batch: Keyplane's own (`req_` + 24 hex digits) fit. */
export const ID_WIDTH = 32;
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

/** A batch being filled: the arrays grow as calls arrive. */
interface BuilderState {
  n: number;
  capacity: number;
  strings: string[];
  index: Map<string, number>;
  dims: Uint32Array;
  nums: Float64Array;
  idBytes: Uint8Array;
  otherIds: Array<[number, string]>;
  external: number[];
  test: number;
  /** Per column, the last string interned and its index: consecutive calls mostly share them. */
  lastValue: string[];
  lastIndex: number[];
}

function emptyBuilder(capacity: number): BuilderState {
  return {
    n: 0,
    capacity,
    strings: [],
    index: new Map(),
    dims: new Uint32Array(capacity * DIMS),
    nums: new Float64Array(capacity * NUMS),
    idBytes: new Uint8Array(capacity * ID_WIDTH),
    otherIds: [],
    external: [],
    test: 0,
    lastValue: new Array<string>(DIMS).fill(''),
    lastIndex: new Array<number>(DIMS).fill(-1),
  };
}

function grow(b: BuilderState): void {
  b.capacity *= 2;
  b.dims = widened(b.dims, b.capacity * DIMS);
  b.nums = widened(b.nums, b.capacity * NUMS);
  b.idBytes = widened(b.idBytes, b.capacity * ID_WIDTH);
}

/** The index of `s` in the batch's strings (consecutive calls mostly share them: look up only changes). */
function intern(b: BuilderState, column: number, s: string): number {
  if (s === b.lastValue[column] && b.lastIndex[column]! >= 0) return b.lastIndex[column]!;
  let i = b.index.get(s);
  if (i === undefined) {
    i = b.strings.length;
    b.strings.push(s);
    b.index.set(s, i);
  }
  b.lastValue[column] = s;
  b.lastIndex[column] = i;
  return i;
}

/** Copies request id `id` into slot `n` of `idBytes`, or keeps it in `otherIds` if it does not fit. */
function putId(b: BuilderState, n: number, id: string): void {
  const at = n * ID_WIDTH;
  let k = 0;
  if (id.length <= ID_WIDTH) {
    for (; k < id.length; k++) {
      const ch = id.charCodeAt(k);
      if (ch < 0x21 || ch > 0x7e) break;
      b.idBytes[at + k] = ch;
    }
  }
  if (k < id.length) {
    // Does not fit: kept as a string, its slot all spaces.
    b.otherIds.push([n, id]);
    k = 0;
  }
  for (; k < ID_WIDTH; k++) b.idBytes[at + k] = ID_PAD;
}

function push(
  b: BuilderState,
  c: PackedCall,
  unitPriceMicros: number,
  costMicros: number,
  durationUs: number,
  atMs: number,
): void {
  if (b.n === b.capacity) grow(b);
  const n = b.n;
  const d = n * DIMS;
  b.dims[d] = intern(b, 0, c.clientId);
  b.dims[d + 1] = intern(b, 1, c.keyId);
  b.dims[d + 2] = intern(b, 2, c.endpoint);
  b.dims[d + 3] = intern(b, 3, c.method);
  b.dims[d + 4] = intern(b, 4, c.environment);
  const m = n * NUMS;
  b.nums[m] = c.status;
  b.nums[m + 1] = unitPriceMicros;
  b.nums[m + 2] = costMicros;
  b.nums[m + 3] = durationUs;
  b.nums[m + 4] = atMs;
  putId(b, n, c.requestId);
  if (c.external) b.external.push(n);
  if (c.environment === 'test') b.test++;
  b.n++;
}

/** The packed batch so far (null when empty); the builder starts over. */
function seal(b: BuilderState, id: string): PackedBatch | null {
  const { n } = b;
  if (!n) return null;
  const out: PackedBatch = {
    id,
    n,
    strings: b.strings,
    dims: b.dims.slice(0, n * DIMS),
    nums: b.nums.slice(0, n * NUMS),
    idBytes: b.idBytes.slice(0, n * ID_WIDTH),
    otherIds: b.otherIds,
    external: b.external,
    test: b.test,
  };
  b.n = 0;
  b.strings = [];
  b.index = new Map();
  b.otherIds = [];
  b.external = [];
  b.test = 0;
  b.lastIndex.fill(-1);
  return out;
}

/** Fills a packed batch (growing as calls arrive); `seal` hands it over, trimmed. */
export function createBatchBuilder(initialCapacity = 256) {
  const b = emptyBuilder(initialCapacity);
  return {
    get size() {
      return b.n;
    },
    push: (
      c: PackedCall,
      unitPriceMicros: number,
      costMicros: number,
      durationUs: number,
      atMs: number,
    ) => push(b, c, unitPriceMicros, costMicros, durationUs, atMs),
    seal: (id: string) => seal(b, id),
  };
}

/** The oldest `count` events dropped from a packed batch (same id: see the usage service). */
export function dropOldest(p: PackedBatch, count: number): PackedBatch {
  const keep = unpackBatch(p).events.slice(count);
  const b = createBatchBuilder(Math.max(1, keep.length));
  for (const e of keep)
    b.push(e, e.unitPriceMicros, e.costMicros, e.durationUs, Date.parse(e.createdAt));
  // The ledger stays with the batch: the spend of dropped calls stays counted (never less).
  const kept = b.seal(p.id);
  if (kept) return p.also ? { ...kept, also: p.also } : kept;
  return { ...p, n: 0, idBytes: new Uint8Array(0), otherIds: [], external: [], test: 0 };
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
