import { describe, expect, it } from 'vitest';
import { decodeBlock, encodeBlocks } from '../../usage/index.ts';
import { decodeBlockV2, encodeBlocksV2, type MigratedEvent } from './usage-block-v2.ts';

/**
 * The migrations' frozen copy of block version 2 must write and read exactly what the usage
 * module's codec does while version 2 is the current one: a migration run today behaves as it
 * did when it used the live codec.
 */
function events(): MigratedEvent[] {
  const ids = ['req_0123456789abcdef01234567', '', 'an id with spaces', 'x'.repeat(33), 'ü-id'];
  const out: MigratedEvent[] = [];
  let ms = Date.parse('2025-10-02T12:58:00.000Z');
  for (let i = 0; i < 400; i++) {
    // Forwards mostly, sometimes back across an hour: blocks are per (client, hour), unordered.
    ms += i % 37 === 0 ? -4 * 60_000 : (i * 7919) % 20_000;
    out.push({
      requestId: i < ids.length ? ids[i]! : `req_${String(i).padStart(24, '0')}`,
      clientId: ['client_b', 'client_a', 'client_c'][i % 3 === 0 ? 0 : i % 5 === 0 ? 2 : 1]!,
      keyId: `key_${i % 4}`,
      endpoint: i % 6 === 0 ? 'POST /v1/proxy/gemini/*' : 'GET /v1/health',
      method: i % 6 === 0 ? 'POST' : i % 11 === 0 ? 'HEAD' : 'GET',
      status: i % 9 === 0 ? 429 : 200,
      environment: i % 8 === 0 ? 'test' : 'live',
      unitPriceMicros: i % 8 === 0 ? 0 : 1500,
      costMicros: i % 9 === 0 || i % 8 === 0 ? 0 : 1500,
      durationUs: 100 + ((i * 31) % 900),
      createdAt: new Date(ms).toISOString(),
    });
  }
  return out;
}

describe('usage block version 2, frozen for the migrations', () => {
  it('encodes a batch to the same rows, byte for byte, as the usage codec', () => {
    const batch = events();
    const frozen = encodeBlocksV2('use_m', batch);
    expect(frozen.length).toBeGreaterThan(3);
    expect(frozen).toEqual(encodeBlocks('use_m', batch).blocks);
    expect(encodeBlocksV2('use_e', [])).toEqual([]);
  });

  it('decodes what the usage codec wrote to the same events, and back to the batch', () => {
    const batch = events();
    const blocks = encodeBlocks('use_m', batch).blocks;
    for (const block of blocks) expect(decodeBlockV2(block)).toEqual(decodeBlock(block));
    const byId = (a: MigratedEvent, b: MigratedEvent) =>
      a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0;
    expect(blocks.flatMap((b) => decodeBlockV2(b)).sort(byId)).toEqual([...batch].sort(byId));
  });

  it('refuses another version and a block whose columns do not match', () => {
    const [block] = encodeBlocksV2('use_x', events().slice(0, 3));
    const data = JSON.parse(block!.events) as { v: number; ids: string; t: number[] };
    expect(() => decodeBlockV2({ ...block!, events: JSON.stringify({ ...data, v: 1 }) })).toThrow(
      /unknown version 1/,
    );
    expect(() =>
      decodeBlockV2({ ...block!, events: JSON.stringify({ ...data, ids: data.ids.slice(1) }) }),
    ).toThrow(/id characters/);
    expect(() =>
      decodeBlockV2({ ...block!, events: JSON.stringify({ ...data, t: data.t.slice(1) }) }),
    ).toThrow(/times/);
  });
});
