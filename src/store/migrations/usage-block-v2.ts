import type { KeyEnvironment } from '../../lib/key-format.ts';
import type { UsageBlocksTable } from '../tables/usage.ts';

/**
 * Version 2 of the stored usage block (`usage_blocks.events`), frozen for the migrations that
 * write or read blocks (0006, 0016). A migration sees the formats of its time: it must not
 * follow the usage module's live codec (`usage/usage-blocks.ts`, where the format is
 * documented), or a later format change would silently rewrite what an old migration does —
 * and importing it made the store and the usage module one import cycle. Today both write the
 * same bytes (`usage-block-v2.test.ts` proves it); this copy is plain, not tuned for speed.
 */
export interface MigratedEvent {
  requestId: string;
  clientId: string;
  keyId: string;
  endpoint: string;
  method: string;
  status: number;
  environment: KeyEnvironment;
  unitPriceMicros: number;
  costMicros: number;
  durationUs: number;
  /** ISO-8601 UTC. */
  createdAt: string;
}

type Shape = [keyId: string, endpoint: string, method: string, env: KeyEnvironment, unit: number];

interface BlockV2 {
  v: 2;
  shapes: Shape[];
  s: number[];
  st: number[];
  c: number[];
  t: number[];
  d: number[];
  ids: string;
  other?: Array<[number, string]>;
}

const HOUR_MS = 3_600_000;
const ID_WIDTH = 32;

/** One (client, hour) block being filled. */
interface OpenBlock {
  row: UsageBlocksTable;
  data: Omit<BlockV2, 'v' | 'ids' | 'other'>;
  ids: string[];
  other: Array<[number, string]>;
  shapes: Map<string, number>;
  lastMs: number;
}

/** A batch's events as version 2 blocks, one per (client, hour), sorted by client and hour. */
export function encodeBlocksV2(batchId: string, events: readonly MigratedEvent[]) {
  const open = new Map<string, OpenBlock>();
  for (const e of events) {
    const atMs = Date.parse(e.createdAt);
    const hourMs = Math.floor(atMs / HOUR_MS) * HOUR_MS;
    const hour = new Date(hourMs).toISOString();
    const key = `${e.clientId}\u0000${hour}`;
    let b = open.get(key);
    if (!b) {
      b = openBlock(batchId, e.clientId, hour, hourMs);
      open.set(key, b);
    }
    addEvent(b, e, atMs);
  }
  const sorted = [...open.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return sorted.map(([, b], seq): UsageBlocksTable => {
    const ids = b.ids.join('');
    const data: BlockV2 = {
      v: 2,
      ...b.data,
      ...(b.other.length ? { ids, other: b.other } : { ids }),
    };
    return { ...b.row, seq, events: JSON.stringify(data) };
  });
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
    ids: [],
    other: [],
    shapes: new Map(),
    lastMs: hourMs,
  };
}

function addEvent(b: OpenBlock, e: MigratedEvent, atMs: number) {
  const tuple: Shape = [e.keyId, e.endpoint, e.method, e.environment, e.unitPriceMicros];
  const sk = tuple.join('\u0000');
  let shape = b.shapes.get(sk);
  if (shape === undefined) {
    shape = b.data.shapes.length;
    b.data.shapes.push(tuple);
    b.shapes.set(sk, shape);
  }
  // A request id is kept in its 32-character slot when it is printable ASCII without spaces
  // and fits; otherwise the slot is all spaces and the id is in `other`.
  if (e.requestId.length <= ID_WIDTH && /^[\x21-\x7e]*$/.test(e.requestId))
    b.ids.push(e.requestId.padEnd(ID_WIDTH, ' '));
  else {
    b.other.push([b.ids.length, e.requestId]);
    b.ids.push(' '.repeat(ID_WIDTH));
  }
  pushRun(b.data.s, shape);
  pushRun(b.data.st, e.status);
  pushRun(b.data.c, e.costMicros);
  b.data.t.push(atMs - b.lastMs);
  b.lastMs = atMs;
  b.data.d.push(e.durationUs);
  b.row.calls++;
  b.row.cost_micros += e.costMicros;
}

/** Appends `value` to runs `[value, count, …]`. */
function pushRun(runs: number[], value: number): void {
  const n = runs.length;
  if (n && runs[n - 2] === value) runs[n - 1]!++;
  else runs.push(value, 1);
}

/** The events of one version 2 block, as they were recorded. */
export function decodeBlockV2(
  row: Pick<UsageBlocksTable, 'client_id' | 'hour' | 'events'>,
): MigratedEvent[] {
  const data = JSON.parse(row.events) as BlockV2;
  if (data.v !== 2) throw new Error(`usage block: unknown version ${String(data.v)}`);
  const n = data.d.length;
  if (data.ids.length !== n * ID_WIDTH)
    throw new Error(`usage block: ${data.ids.length} id characters for ${n} events`);
  if (data.t.length !== n) throw new Error(`usage block: ${data.t.length} times for ${n} events`);
  const other = new Map(data.other ?? []);
  const s = expandRuns(data.s, n, 'shape');
  const st = expandRuns(data.st, n, 'status');
  const c = expandRuns(data.c, n, 'cost');
  let atMs = Date.parse(row.hour);
  return data.d.map((durationUs, i) => {
    const [keyId, endpoint, method, environment, unitPriceMicros] = data.shapes[s[i]!]!;
    const slot = data.ids.slice(i * ID_WIDTH, (i + 1) * ID_WIDTH);
    atMs += data.t[i]!;
    return {
      requestId: other.get(i) ?? slot.split(' ')[0]!,
      clientId: row.client_id,
      keyId,
      endpoint,
      method,
      status: st[i]!,
      environment,
      unitPriceMicros,
      costMicros: c[i]!,
      durationUs,
      createdAt: new Date(atMs).toISOString(),
    };
  });
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
