import type { Kysely } from 'kysely';
import { encodeBlocksV2, type MigratedEvent } from './usage-block-v2.ts';

// Usage blocks have one format from here on (see `usage/usage-blocks.ts`). Blocks written
// before it (version 1: an array per column, request ids as a JSON array) are rewritten in
// place, same batch and sequence number, holding exactly the same events; rollups, batches and
// request ids are untouched. Version 1 is read here and nowhere else.

const PAGE = 200;

interface BlockV1 {
  v: 1;
  shapes: Array<[keyId: string, endpoint: string, method: string, env: string, unit: number]>;
  id: string[];
  s: number[];
  st: number[];
  /** Milliseconds after the block's hour. */
  t: number[];
  d: number[];
  c: number[];
}

interface BlockRow {
  batch_id: string;
  seq: number;
  client_id: string;
  hour: string;
  events: string;
}

/** The events of a version 1 block, as they were recorded. */
export function eventsOfV1(row: BlockRow): MigratedEvent[] {
  const data = JSON.parse(row.events) as BlockV1;
  if (data.v !== 1) throw new Error(`usage block ${row.batch_id}/${row.seq}: unknown version`);
  const hourMs = Date.parse(row.hour);
  return data.id.map((requestId, i) => {
    const [keyId, endpoint, method, env, unitPriceMicros] = data.shapes[data.s[i]!]!;
    return {
      requestId,
      clientId: row.client_id,
      keyId,
      endpoint,
      method,
      status: data.st[i]!,
      environment: env === 'test' ? 'test' : 'live',
      unitPriceMicros,
      costMicros: data.c[i]!,
      durationUs: data.d[i]!,
      createdAt: new Date(hourMs + data.t[i]!).toISOString(),
    };
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations see the schema of their time, not today's types
export async function up(db: Kysely<any>): Promise<void> {
  let after: [string, number] = ['', -1];
  for (;;) {
    const rows = (await db
      .selectFrom('usage_blocks')
      .select(['batch_id', 'seq', 'client_id', 'hour', 'events'])
      .where('events', 'not like', '{"v":2,%')
      .where((eb) =>
        eb.or([
          eb('batch_id', '>', after[0]),
          eb.and([eb('batch_id', '=', after[0]), eb('seq', '>', after[1])]),
        ]),
      )
      .orderBy('batch_id')
      .orderBy('seq')
      .limit(PAGE)
      .execute()) as BlockRow[];
    if (!rows.length) break;
    const last = rows[rows.length - 1]!;
    after = [last.batch_id, Number(last.seq)];
    for (const row of rows) {
      // One client and hour in, so exactly one block out.
      const [block] = encodeBlocksV2(row.batch_id, eventsOfV1(row));
      await db
        .updateTable('usage_blocks')
        .set({ events: block!.events })
        .where('batch_id', '=', row.batch_id)
        .where('seq', '=', row.seq)
        .execute();
    }
  }
}

/** Nothing to undo: the code before this migration reads the current format too. */
export async function down(): Promise<void> {}
