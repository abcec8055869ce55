/**
 * Per-client frame buffers (seed 02's `client_frame_buffers[client_id]`), with memory bounded
 * across every client: each client holds at most `framesPerClient` frames (a ring: the oldest
 * goes first), and all buffers together hold at most `maxTotalBytes`; past that, the buffers of
 * the least recently used clients are dropped whole. A client id is the only way in: there is
 * no call that lists or reads another client's buffer.
 */

export interface Frame {
  data: Buffer;
  /** the client's own frame counter, as sent */
  frameCount: number;
  receivedAt: number;
}

export interface FrameStoreOptions {
  /** 10 s × 25 fps (default 250). */
  framesPerClient?: number;
  /** Budget for all buffers together, bookkeeping included (default 64 MiB). */
  maxTotalBytes?: number;
  /** Largest single frame accepted (default 256 KiB). */
  maxFrameBytes?: number;
}

/** What one frame costs the budget beyond its bytes: the object, the array slot, the Buffer. */
export const FRAME_OVERHEAD_BYTES = 128;
/** What one client's (empty) ring costs the budget. */
export const CLIENT_OVERHEAD_BYTES = 2048;

export type AddResult =
  { ok: true; bufferSize: number } | { ok: false; reason: 'too_large'; maxFrameBytes: number };

class Ring {
  readonly frames: Array<Frame | undefined>;
  start = 0;
  size = 0;
  bytes = 0;

  constructor(capacity: number) {
    this.frames = new Array<Frame | undefined>(capacity);
  }

  /** Appends; answers the frame pushed out when full. */
  push(frame: Frame): Frame | undefined {
    const cap = this.frames.length;
    if (this.size < cap) {
      this.frames[(this.start + this.size) % cap] = frame;
      this.size++;
      return undefined;
    }
    const out = this.frames[this.start];
    this.frames[this.start] = frame;
    this.start = (this.start + 1) % cap;
    return out;
  }

  shift(): Frame | undefined {
    if (!this.size) return undefined;
    const out = this.frames[this.start];
    this.frames[this.start] = undefined;
    this.start = (this.start + 1) % this.frames.length;
    this.size--;
    return out;
  }

  /** Oldest first. */
  toArray(): Frame[] {
    const out: Frame[] = [];
    for (let i = 0; i < this.size; i++)
      out.push(this.frames[(this.start + i) % this.frames.length]!);
    return out;
  }
}

const cost = (f: Frame) => f.data.length + FRAME_OVERHEAD_BYTES;

export class FrameStore {
  readonly framesPerClient: number;
  readonly maxTotalBytes: number;
  readonly maxFrameBytes: number;
  /** Insertion order = recency: a touched client is re-inserted at the end. */
  readonly #buffers = new Map<string, Ring>();
  #totalBytes = 0;
  /** Client buffers dropped to stay within the budget. */
  evictions = 0;

  constructor(options: FrameStoreOptions = {}) {
    this.framesPerClient = options.framesPerClient ?? 250;
    this.maxTotalBytes = options.maxTotalBytes ?? 64 * 1024 * 1024;
    this.maxFrameBytes = options.maxFrameBytes ?? 256 * 1024;
  }

  add(clientId: string, data: Buffer, frameCount: number, now = Date.now()): AddResult {
    if (data.length > this.maxFrameBytes) {
      return { ok: false, reason: 'too_large', maxFrameBytes: this.maxFrameBytes };
    }
    const ring = this.#touch(clientId, true)!;
    const frame: Frame = { data, frameCount, receivedAt: now };
    const out = ring.push(frame);
    ring.bytes += cost(frame);
    this.#totalBytes += cost(frame);
    if (out) {
      ring.bytes -= cost(out);
      this.#totalBytes -= cost(out);
    }
    this.#enforceBudget(clientId);
    return { ok: true, bufferSize: ring.size };
  }

  /** The client's frames, oldest first (a copy of the list; frames are shared, never mutated). */
  frames(clientId: string): Frame[] {
    return this.#touch(clientId, false)?.toArray() ?? [];
  }

  size(clientId: string): number {
    return this.#buffers.get(clientId)?.size ?? 0;
  }

  clear(clientId: string): void {
    const ring = this.#buffers.get(clientId);
    if (!ring) return;
    this.#totalBytes -= ring.bytes;
    this.#buffers.delete(clientId);
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  get clientCount(): number {
    return this.#buffers.size;
  }

  #touch(clientId: string, create: boolean): Ring | undefined {
    let ring = this.#buffers.get(clientId);
    if (ring) this.#buffers.delete(clientId);
    else if (create) {
      ring = new Ring(this.framesPerClient);
      ring.bytes = CLIENT_OVERHEAD_BYTES;
      this.#totalBytes += CLIENT_OVERHEAD_BYTES;
    }
    if (ring) this.#buffers.set(clientId, ring);
    return ring;
  }

  /** Drops whole buffers of the least recently used clients, then the caller's oldest frames. */
  #enforceBudget(current: string) {
    for (const [id, ring] of this.#buffers) {
      if (this.#totalBytes <= this.maxTotalBytes) return;
      if (id === current) continue;
      this.#totalBytes -= ring.bytes;
      this.#buffers.delete(id);
      this.evictions++;
    }
    const own = this.#buffers.get(current);
    while (own && this.#totalBytes > this.maxTotalBytes && own.size > 1) {
      const out = own.shift()!;
      own.bytes -= cost(out);
      this.#totalBytes -= cost(out);
    }
  }
}
