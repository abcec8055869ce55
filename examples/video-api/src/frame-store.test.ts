import { describe, expect, it } from 'vitest';
import { analyzeFrames } from './analyze.ts';
import { CLIENT_OVERHEAD_BYTES, FRAME_OVERHEAD_BYTES, FrameStore } from './frame-store.ts';

const frame = (bytes: number, fill = 0) => Buffer.alloc(bytes, fill);

describe('FrameStore', () => {
  it('keeps the last 250 frames per client (10 s × 25 fps), oldest first', () => {
    const store = new FrameStore();
    for (let i = 0; i < 260; i++) store.add('a', frame(10, i % 256), i);
    const frames = store.frames('a');
    expect(frames).toHaveLength(250);
    expect(frames[0]!.frameCount).toBe(10);
    expect(frames.at(-1)!.frameCount).toBe(259);
    expect(store.totalBytes).toBe(CLIENT_OVERHEAD_BYTES + 250 * (10 + FRAME_OVERHEAD_BYTES));
  });

  it('keeps each client to its own buffer', () => {
    const store = new FrameStore();
    store.add('a', frame(4, 1), 1);
    store.add('b', frame(4, 2), 1);
    store.add('b', frame(4, 3), 2);
    expect(store.size('a')).toBe(1);
    expect(store.size('b')).toBe(2);
    expect(store.frames('a').every((f) => f.data[0] === 1)).toBe(true);
    expect(store.frames('nobody')).toEqual([]);
  });

  it('refuses a frame over the size limit without touching the buffer', () => {
    const store = new FrameStore({ maxFrameBytes: 100 });
    expect(store.add('a', frame(101), 1)).toEqual({
      ok: false,
      reason: 'too_large',
      maxFrameBytes: 100,
    });
    expect(store.add('a', frame(100), 1)).toEqual({ ok: true, bufferSize: 1 });
    expect(store.size('a')).toBe(1);
  });

  it('holds the global budget under many clients by dropping the least recently used', () => {
    const budget = 256 * 1024;
    const store = new FrameStore({ maxTotalBytes: budget, maxFrameBytes: 4096 });
    let peak = 0;
    for (let c = 0; c < 400; c++) {
      for (let f = 0; f < 30; f++) {
        store.add(`client-${c}`, frame(1024 + ((c * 7 + f) % 3000)), f);
        peak = Math.max(peak, store.totalBytes);
        // Reads keep a client recent: client-0 polls all along and is never dropped.
        if (f === 0) store.frames('client-0');
      }
    }
    expect(peak).toBeLessThanOrEqual(budget);
    expect(store.evictions).toBeGreaterThan(300);
    expect(store.size('client-399')).toBe(30);
    expect(store.size('client-0')).toBe(30);
    expect(store.size('client-1')).toBe(0);
    expect(store.clientCount).toBeLessThan(budget / (30 * 1024));
  });

  it("trims the caller's own oldest frames when one client alone would exceed the budget", () => {
    const store = new FrameStore({ maxTotalBytes: 8 * 1024, maxFrameBytes: 2048 });
    for (let i = 0; i < 20; i++) store.add('solo', frame(2048), i);
    expect(store.totalBytes).toBeLessThanOrEqual(8 * 1024);
    expect(store.frames('solo').at(-1)!.frameCount).toBe(19);
  });
});

describe('analyzeFrames', () => {
  it('is deterministic: still frames are LOW, changing frames are HIGH', () => {
    const still = Array.from({ length: 5 }, (_, i) => ({
      data: frame(64, 10),
      frameCount: i,
      receivedAt: 0,
    }));
    const moving = Array.from({ length: 5 }, (_, i) => ({
      data: frame(64, i % 2 ? 250 : 0),
      frameCount: i,
      receivedAt: 0,
    }));
    expect(analyzeFrames(still)).toMatchObject({
      frames_analyzed: 5,
      motion_score: 0,
      risk_level: 'LOW',
      incident_detected: false,
    });
    expect(analyzeFrames(moving)).toMatchObject({ risk_level: 'HIGH', incident_detected: true });
    expect(analyzeFrames(moving)).toEqual(analyzeFrames(moving));
  });
});
